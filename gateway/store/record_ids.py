"""Upstream record ids and the store's name they are made of.

A record's id is `<store_id>-<seq>`: `store_id` is a random name given to the store when it
was created (migration 0001), `seq` the record's outbox sequence number. It is unique across
stores (a gateway re-installed with a new store sends new ids) and never changes however often
the record is resent; results and alerts keep it in their `record_id` column.
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
