"""What the store's writer threads share: gathering a batch and committing it until it sticks.

The intake writer (messages) and the result writer (analysis results) each own one thread
that takes whatever is waiting in its queue, lingers briefly for more, and commits the lot
in one synchronous=FULL transaction: one fsync per batch, not per item. The linger only
pays under load (`LingerUnderLoad`): an idle writer commits at once.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.store.database import failed_in_the_database

T = TypeVar("T")
R = TypeVar("R")
IDLE_BEAT_S = 2.0  # an idle writer still shows the watchdog it is alive this often
LINGER_POLL_S = 0.001
RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)


class LingerUnderLoad:
    """A writer's linger, paid only under load.

    Lingering saves fsyncs only when more items are coming; on a quiet site a window waited
    out the whole linger in each of the two writers on its way to its result (10 of the
    ~17 ms from publish to result, issue 14). So the writer is busy while its last commit
    ended less than a linger ago (the next item was already waiting, or came at once): then
    it lingers, and a burst is committed in batches with the write lock free between them for
    the other writer. Otherwise it commits at once; whatever is already waiting still joins
    the batch.
    """

    def __init__(self, linger_s: float):
        self.linger_s = linger_s
        self._last_commit = -math.inf

    def now(self) -> float:
        """The linger for a batch begun now: `linger_s` when busy, else 0."""
        busy = time.monotonic() - self._last_commit < self.linger_s
        return self.linger_s if busy else 0.0

    def committed(self) -> None:
        self._last_commit = time.monotonic()


def linger_for_more(waiting: queue.Queue, batch: list, max_batch: int, linger_s: float,
                    stop_marker: object,
                    linger_of: Callable[[Any], float] | None = None) -> bool:
    """Add to batch what arrives within linger_s, up to max_batch; True when stop_marker
    came (it is not added: the writer commits this batch and stops).

    With linger_of, each item sets its own linger (seconds from when it is taken) and the
    batch is committed at the earliest of them: a stream that tolerates a long wait shares
    fewer commits, and an item that must not wait cuts the wait short for the whole batch.

    Polls with short sleeps instead of blocking on the queue: a blocked reader would be
    woken by every single put, a thread switch per item.
    """
    now = time.monotonic()
    deadline = now + (linger_s if linger_of is None else min(map(linger_of, batch)))
    while len(batch) < max_batch:
        try:
            item = waiting.get_nowait()
        except queue.Empty:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(remaining, LINGER_POLL_S))
            continue
        if item is stop_marker:
            return True
        batch.append(item)
        if linger_of is not None:
            deadline = min(deadline, time.monotonic() + linger_of(item))
    return False


def commit_until_done(items: list[T], commit: Callable[[list[T]], R],
                      on_failure: Callable[[Exception, float], None],
                      set_aside: Callable[[T, Exception], T] | None = None
                      ) -> list[tuple[list[T], R]]:
    """Commit items until all of them are committed; return each committed part with what
    commit answered for it, in order.

    A failure of the database (disk full, I/O error, lock timeout) is reported to on_failure
    with the coming delay and retried with back-off, for ever: nothing is dropped, the
    senders are waiting (acknowledgements, results). Any other failure may be one item's
    own (a poison message): with set_aside given, the part is split in halves to find it,
    and set_aside(item, error) gives what to commit in its place (a record of why it was
    refused), so one bad item costs itself and never the stream. When that replacement
    fails too, the fault was not the item's: it is retried like a database failure.
    """
    parts, done, replacements, attempt = [items], [], set(), 0
    while parts:
        part = parts.pop()
        try:
            done.append((part, commit(part)))
            attempt = 0
            continue
        except Exception as e:
            error = e
        if set_aside is not None and not failed_in_the_database(error):
            if len(part) > 1:
                half = len(part) // 2
                parts += [part[half:], part[:half]]
                continue
            if id(part[0]) not in replacements:
                replacement = set_aside(part[0], error)
                replacements.add(id(replacement))
                parts.append([replacement])
                continue
        delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
        on_failure(error, delay)
        attempt += 1
        time.sleep(delay)
        parts.append(part)
    return done
