"""What becomes of a failed analysis attempt, wherever it failed (in a worker, or in the
result writer's save): retried later with back-off while attempts are left, else given up
to the dead-letter list. One rule for both, so a window never gets a retry more or less
depending on where its attempt failed."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from gateway.inference.results import ResultStore
from gateway.logs import kv

log = logging.getLogger("gateway.inference")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    cap_s: float

    def delay(self, attempt: int) -> float:
        """Exponential back-off with full jitter: retries of many failed windows spread out
        instead of arriving together."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


def failed_attempt(store: ResultStore, retry: RetryPolicy, window_id: int, attempt: int,
                   error: Exception) -> float | None:
    """Record a failed attempt on `store`; the delay before the next one, or None when the
    window was given up (its last attempt)."""
    message = f"{type(error).__name__}: {error}"
    try:
        if attempt >= retry.max_attempts:
            store.dead_letter(window_id, message, attempt)
            log.error("window given up after its last attempt; moved to the dead-letter "
                      "list", extra=kv(window_id=window_id, attempts=attempt, error=message))
            return None
        store.record_failure(window_id, message, attempt)
    except Exception as e:
        log.error("cannot record a failed analysis", extra=kv(window_id=window_id,
                                                              error=repr(e)))
    delay = retry.delay(attempt)
    log.warning("analysis failed; retrying", extra=kv(window_id=window_id, attempt=attempt,
                                                      retry_in_s=round(delay, 2),
                                                      error=message))
    return delay
