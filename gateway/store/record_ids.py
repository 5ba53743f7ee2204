"""Upstream record ids and the store's name they are made of.

A record's id is `<store_id>-<seq>`: `store_id` is a random name given to the store when it
was created (migration 0001), `seq` the record's number in the outbox's sequence (a telemetry
row's id since migration 0011, drawn from the same sequence: see `last_seq`). It is unique
across stores (a gateway re-installed with a new store sends new ids) and never changes
however often the record is resent; results and alerts keep it in their `record_id` column.
"""

from __future__ import annotations

import sqlite3


def store_id_of(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    return str(row[0])


def record_id(store_id: str, seq: int) -> str:
    return f"{store_id}-{seq}"


def seq_of(record_id: str) -> int:
    """The outbox seq a record id was made of."""
    return int(record_id.rsplit("-", 1)[1])


def sql_record_id(store_id: str, seq: str) -> str:
    """The id as an SQL expression: `store_id` an SQL expression of the store's id (a
    parameter), `seq` one of the sequence number (a column)."""
    return f"{store_id} || '-' || {seq}"


def sql_seq_of(record_id: str) -> str:
    """The seq as an SQL expression of a record id column (the store id holds no '-')."""
    return f"CAST(substr({record_id}, instr({record_id}, '-') + 1) AS INTEGER)"


# One sequence numbers every upstream record: the outbox's AUTOINCREMENT (sqlite_sequence),
# which also numbers telemetry rows since migration 0011 (a telemetry row's id is its seq:
# it is uploaded from its own table, not copied into the outbox). The intake writer takes
# the next numbers for its telemetry rows and moves the sequence past them in the same
# transaction, so a later result or alert gets a higher seq and no two records share one.
_LAST_SEQ = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), "
    "coalesce((SELECT max(seq) FROM outbox), 0), coalesce((SELECT max(id) FROM telemetry), 0))"
)


def last_seq(conn: sqlite3.Connection) -> int:
    """The highest seq handed out (inside the caller's write transaction)."""
    return int(conn.execute(_LAST_SEQ).fetchone()[0])


def advance_seq(conn: sqlite3.Connection, seq: int) -> None:
    """Record that seqs up to `seq` are taken: the outbox's next AUTOINCREMENT is above it."""
    if not conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox' AND seq < ?",
                        (seq, seq)).rowcount:
        conn.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox', ? WHERE NOT "
                     "EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox')", (seq,))
