"""One owner of the schema's vocabulary (issue 15): SQL lives in `gateway/store/` and in the
stage that owns its tables (`gateway/inference/results.py`: results, alerts, device states,
the analysis claims). The developer tooling is outside the daemon and may read as it likes."""

from __future__ import annotations

import re
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
OWNERS = ("store/", "inference/results.py", "devtools/")
# A statement in a string literal: the start of every statement the gateway writes.
STATEMENT = re.compile(r"[\"'](SELECT|INSERT|UPDATE|DELETE|CREATE|REPLACE|WITH)\s")


def test_no_sql_outside_the_store_and_the_owning_stage():
    strays = []
    for path in sorted(GATEWAY.rglob("*.py")):
        relative = path.relative_to(GATEWAY).as_posix()
        if relative.startswith(OWNERS):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if STATEMENT.search(line):
                strays.append(f"{relative}:{number}: {line.strip()}")
    assert not strays, "SQL outside its owners:\n" + "\n".join(strays)


def test_the_check_finds_sql():
    assert STATEMENT.search('conn.execute("SELECT stream FROM windows WHERE id = ?")')
    assert not STATEMENT.search('log.info("select a device")')
