"""Delivery: what the analysis committed goes out, to the local broker (publisher) and
to the cloud in idempotent batches (uplink). Reads committed rows; never writes results."""
