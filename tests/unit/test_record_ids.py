"""Record ids are built and parsed in one place, the same in Python and in SQL."""

from __future__ import annotations

import sqlite3

from gateway.store.database import open_database
from gateway.store.record_ids import record_id, seq_of, sql_record_id, sql_seq_of, store_id_of


def test_a_record_id_is_the_store_id_and_the_seq_in_python_and_in_sql(tmp_path):
    db = open_database(tmp_path / "gateway.db")
    store_id = store_id_of(db.conn)
    assert store_id and "-" not in store_id  # the SQL parse relies on it
    conn = sqlite3.connect(":memory:")
    for seq in (1, 42, 10**12):
        made = record_id(store_id, seq)
        assert seq_of(made) == seq
        assert conn.execute(f"SELECT {sql_record_id('?', '?')}", (store_id, seq)).fetchone() == (
            made,)
        assert conn.execute(f"SELECT {sql_seq_of(':id')}", {"id": made}).fetchone() == (seq,)
    db.close()
