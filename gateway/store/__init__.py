"""The store: the SQLite file, its schema and the vocabulary of its shared tables (counters,
record ids, dead letters), every statement on them, and the read model of status and metrics."""
