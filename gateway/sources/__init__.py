"""Record sources: each one feeds a RecordSink and depends only on gateway.interfaces."""
