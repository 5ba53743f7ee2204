"""`gateway dlq`: the dead-letter list, for the operator (store/dead_letters.py owns it).

`retry_dead_letters` puts entries back and queues the windows among them for analysis.
"""

from __future__ import annotations

import time

from gateway.config import Config
from gateway.inference.queue import AnalysisQueue, build_huey
from gateway.store.database import open_database
from gateway.store.dead_letters import DeadLetter, DlqError, TakenBack, list_dead_letters, take_back

__all__ = ["DeadLetter", "DlqError", "TakenBack", "dead_letters", "render_dead_letters",
           "retry_dead_letters"]


def dead_letters(config: Config) -> list[DeadLetter]:
    db = open_database(config.store_path)
    try:
        return list_dead_letters(db.conn)
    finally:
        db.close()


def retry_dead_letters(config: Config, ids: list[int] | None) -> TakenBack:
    """Put the entries back (all when ids is None); windows go to the analysis queue."""
    db = open_database(config.store_path)
    try:
        done = take_back(db.conn, ids)
    finally:
        db.close()
    if done.window_ids:
        AnalysisQueue(build_huey(config)).enqueue(done.window_ids)
    return done


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def render_dead_letters(letters: list[DeadLetter]) -> str:
    """One line per entry, then the count."""
    lines = []
    for d in letters:
        what = f"window {d.ref}" if d.stage == "inference" else f"record {d.ref}"
        lines.append(f"{d.id:>6}  {_when(d.created_at_ms)}  {d.stage:<9}  {what}  "
                     f"attempts={d.attempts}  {d.error}")
    return "\n".join([*lines, f"{len(letters)} dead letter(s)"])
