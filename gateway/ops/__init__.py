"""The operator's tools: `gateway status`, `doctor`, the dead-letter list. Each reads (or
repairs) the data dir through the store; none of them runs in the daemon's loops."""
