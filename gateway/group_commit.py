"""What the store's writer threads share: gathering a batch and committing it until it sticks.

The intake writer (messages) and the result writer (analysis results) each own one thread
that takes whatever is waiting in its queue, lingers briefly for more, and commits the lot
in one synchronous=FULL transaction: one fsync per batch, not per item.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
IDLE_BEAT_S = 2.0  # an idle writer still shows the watchdog it is alive this often
LINGER_POLL_S = 0.001
RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)


def linger_for_more(waiting: queue.Queue, batch: list, max_batch: int, linger_s: float,
                    stop_marker: object) -> bool:
    """Add to batch what arrives within linger_s, up to max_batch; True when stop_marker
    came (it is not added: the writer commits this batch and stops).

    Polls with short sleeps instead of blocking on the queue: a blocked reader would be
    woken by every single put, a thread switch per item.
    """
    deadline = time.monotonic() + linger_s
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
    return False


def commit_until_done(commit: Callable[[], T],
                      on_failure: Callable[[Exception, float], None]) -> T:
    """Run commit until it succeeds; after each failure (disk full, I/O error, lock timeout)
    report it with the coming delay and wait, with back-off. What is being committed is
    never dropped: its senders are waiting for it (acknowledgements, results)."""
    attempt = 0
    while True:
        try:
            return commit()
        except Exception as e:
            delay = RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
            on_failure(e, delay)
            attempt += 1
            time.sleep(delay)
