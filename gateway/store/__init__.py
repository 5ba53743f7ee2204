"""The store: the SQLite file, its schema and the vocabulary of its shared tables
(counters, record ids), the outbox side, retention and the group commit the writers share."""
