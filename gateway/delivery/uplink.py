"""The uploader: sends the outbox to the cloud in batches, oldest first, until each record is
accepted or set aside — the contract of docs/upstream.md.

Every upload ends as accepted (rows deleted and `synced` bumped in one transaction), refused
(the batch is halved until the refused records are found; those go to the dead-letter list
with the server's answer, the rest is sent), or kept for a later try (everything else: 5xx,
429, timeouts, refused connections, a refused token). All state is in the store, so a crash
at any point resends at most the batch that was in flight, under the same record ids and
the same Idempotency-Key, and the cloud stores it once.

This module is the HTTP side and the thread; what is read from and written to the store is
in outbox.py.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path

import requests

from gateway import __version__
from gateway.config import SyncSection
from gateway.logs import kv
from gateway.redaction import redact, redact_then_cut
from gateway.service.loop import UNWATCHED, Loop, Pulse
from gateway.store.outbox import Batch, Outbox, now_ms

log = logging.getLogger("gateway.uplink")

GZIP_LEVEL = 1  # bench/sync.py: level 6 saves ~20 % of the bytes for ~2.5x the CPU
RECORDS_PATH = "/v1/gateways/{gateway_id}/records"
REFUSED = frozenset({400, 413, 422})
AUTH = frozenset({401, 403})
THROTTLED = frozenset({429, 503})
ANSWER_CHARS = 500  # of the server's answer kept in logs, sync_state and dead letters
RETRY_AFTER_CEILING_S = 86_400.0  # a server asking for longer is most likely wrong
RETRY_AFTER_FLOOR_S = 1.0  # "Retry-After: 0" answered again and again must not spin
BEAT_EVERY_S = 2.0  # a long back-off still shows the watchdog that this loop is alive


def sync_disabled_reason(sync: SyncSection) -> str | None:
    """Why the uploader is not started, or None when it should be."""
    if not sync.url:
        return "sync disabled: sync.url is empty; every record is kept on this gateway"
    return None


def records_url(sync: SyncSection, gateway_id: str) -> str:
    return sync.url.rstrip("/") + RECORDS_PATH.format(gateway_id=gateway_id)


def new_session(sync: SyncSection, session_factory=requests.Session) -> requests.Session:
    session = session_factory()
    session.verify = sync.ca_file or True  # never off: a private CA goes in sync.ca_file
    session.headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip",
                            "User-Agent": f"sensor-gateway/{__version__}"})
    if sync.token:
        session.headers["Authorization"] = f"Bearer {sync.token}"
    return session


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What one POST came back with: a status and text, or an error (status None)."""

    status: int | None
    text: str = ""
    retry_after_s: float | None = None

    @property
    def verdict(self) -> str:
        """accepted | refused | auth | throttled | transient."""
        status = self.status
        if status is not None and (200 <= status < 300 or status == 409):
            return "accepted"
        if status in REFUSED:
            return "refused"
        if status in AUTH:
            return "auth"
        if status in THROTTLED and self.retry_after_s is not None:
            return "throttled"
        return "transient"  # other 5xx, other 4xx (kept: nothing is dropped), network errors

    def describe(self) -> str:
        head = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{head}: {self.text}" if self.text else head


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds to wait: delay-seconds or an HTTP-date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # nan
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CEILING_S)


def describe_error(error: Exception, secret: str = "") -> str:
    """A short line for a requests exception: its kind and the innermost reason, with every
    form of the secret masked (before cutting, so no start of it is left standing)."""
    text = str(error)
    reason = re.findall(r"\[Errno -?\d+\][^'\")]*|\w+Error\([^()]*\)|Remote end closed[^'\")]*",
                        text)
    return redact_then_cut(f"{type(error).__name__}: {reason[-1] if reason else text}",
                           ANSWER_CHARS, secret)


def post_batch(session: requests.Session, url: str, sync: SyncSection, batch_id: str,
               gzipped: bytes) -> Answer:
    try:
        response = session.post(url, data=gzipped, headers={"Idempotency-Key": batch_id},
                                timeout=(sync.connect_timeout_s, sync.read_timeout_s),
                                allow_redirects=False)
    except (requests.RequestException, ValueError) as e:  # ValueError: a header http.client
        return Answer(None, describe_error(e, sync.token))  # refuses to encode
    # Not response.text: that guesses the charset by scanning the whole (maybe large) body.
    # Read past the cut, so a token the server echoes across it is still masked whole.
    head = response.content[:ANSWER_CHARS * 2 + 6 * len(sync.token)]
    text = redact_then_cut(head.decode("utf-8", "replace").replace("\n", " "), ANSWER_CHARS,
                           sync.token)
    return Answer(response.status_code, text, retry_after_seconds(
        response.headers.get("Retry-After")))


# --- the uploader ---------------------------------------------------------------------------


@dataclass
class RoundOutcome:
    """What one run_once did. `failure` is None, "transient", "throttled" or "auth"."""

    requests: int = 0
    accepted: int = 0
    dead_lettered: int = 0
    raw_bytes: int = 0
    wire_bytes: int = 0
    failure: str | None = None
    error: str = ""
    retry_after_s: float | None = None
    remaining: bool = False  # the last batch was full: more is waiting


class Uplink:
    """Uploads the outbox from its own thread and its own connection to the store."""

    def __init__(self, sync: SyncSection, gateway_id: str, store_path: Path, *,
                 session_factory=requests.Session, backoff_base_s: float = 1.0,
                 gzip_level: int = GZIP_LEVEL, pulse: Pulse = UNWATCHED):
        if sync_disabled_reason(sync):
            raise ValueError(sync_disabled_reason(sync))  # the daemon checks before building
        self.sync, self.gateway_id, self.gzip_level = sync, gateway_id, gzip_level
        self.backoff_base_s = backoff_base_s
        self.url = records_url(sync, gateway_id)
        self.outbox = Outbox(store_path)
        self.session = new_session(sync, session_factory)
        self.failures = 0
        self.rounds = 0  # upload rounds run by the thread (empty ones too)
        self.paused = False
        self._cond = threading.Condition()
        self._woken = False
        self._loop = Loop("uplink", self._turn, pulse=pulse, wake=self._notify)

    # -- the thread

    def start(self) -> None:
        if not self.sync.token:
            log.error("no sync token: uploads will be refused until one is set",
                      extra=kv(action="set sync.token_file or GATEWAY_SYNC_TOKEN, then restart"))
        self._loop.start()
        log.info("uplink started", extra=kv(url=self.url, interval_s=self.sync.interval_s))

    def wake(self) -> None:
        """Upload now rather than at the next interval (ignored while backing off)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stop(self, timeout: float = 10.0) -> bool:
        """End the thread (a request in flight may finish within the read timeout), close.
        Returns False when the thread did not end in time; the store is then left open."""
        if not self._loop.stop(timeout):
            return False
        self.session.close()
        self.outbox.close()
        return True

    @property
    def _stopping(self) -> bool:
        return self._loop.stopping.is_set()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _turn(self) -> None:
        try:
            delay, wakeable = self._delay_after(self.run_once())
            self.rounds += 1
            # A backoff's end is worth showing in status; the idle poll's is not: recording
            # it every interval was a store write every 30 s on a quiet site (issue 14).
            backing_off = delay > 0 and not wakeable
            self.outbox.set_state(
                next_attempt_ms=str(now_ms() + int(delay * 1000)) if backing_off else "")
        except Exception as e:  # a bug or a failing store: log, back off, go on
            log.error("upload round failed", extra=kv(
                error=redact(repr(e), self.sync.token),
                trace=redact(traceback.format_exc(), self.sync.token)))
            self.failures += 1
            delay, wakeable = self.backoff_s(), False
        self._sleep(delay, wakeable)

    def _delay_after(self, outcome: RoundOutcome) -> tuple[float, bool]:
        """(seconds to wait, whether wake() may cut the wait short)."""
        if outcome.failure is None:
            return (0.0 if outcome.remaining else self.sync.interval_s), True
        if outcome.failure == "auth":
            return self.sync.backoff_max_s, False  # a token is not fixed in seconds
        if outcome.failure == "throttled":
            # "throttled" means the server named a Retry-After
            return max(outcome.retry_after_s or 0.0, RETRY_AFTER_FLOOR_S), False
        return self.backoff_s(), False

    def backoff_s(self) -> float:
        """Exponential backoff with full jitter, so a fleet coming back does not stampede."""
        ceiling = min(self.sync.backoff_max_s,
                      self.backoff_base_s * 2 ** min(max(self.failures - 1, 0), 30))
        return random.uniform(0, ceiling)

    def _sleep(self, seconds: float, wakeable: bool) -> None:
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stopping and not (wakeable and self._woken):
                self._loop.pulse.beat()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, BEAT_EVERY_S))

    # -- one round

    def run_once(self) -> RoundOutcome:
        """Send full batches, oldest first, until a partial one went, one failed, or stop."""
        with self._cond:
            self._woken = False
        outcome = RoundOutcome()
        started = time.monotonic()
        while not self._stopping:
            batch = self.outbox.read_batch(self.sync.batch_records, self.sync.batch_bytes)
            outcome.remaining = batch.full
            if not batch:
                break
            failed = self._deliver(batch, outcome)
            if failed is not None:
                outcome.failure, outcome.error = failed.verdict, failed.describe()
                outcome.retry_after_s = failed.retry_after_s
                break
            if not outcome.remaining:
                break
        self._record(outcome, time.monotonic() - started)
        return outcome

    def _deliver(self, batch: Batch, outcome: RoundOutcome) -> Answer | None:
        """Send a batch; None when each of its records is settled (accepted or set aside),
        else the answer that keeps them for a later try."""
        batch_id, body = batch.body(self.gateway_id, self.outbox.store_id)
        gzipped = zlib.compress(body, self.gzip_level, wbits=31)
        started = time.monotonic()
        answer = post_batch(self.session, self.url, self.sync, batch_id, gzipped)
        outcome.requests += 1
        outcome.raw_bytes += len(body)
        outcome.wire_bytes += len(gzipped)
        verdict = answer.verdict
        if verdict == "accepted":
            self.outbox.accept(batch)
            outcome.accepted += len(batch)
            log.debug("batch accepted", extra=kv(batch_id=batch_id, records=len(batch),
                                                 bytes=len(gzipped), status=answer.status,
                                                 ms=round((time.monotonic() - started) * 1000)))
            return None
        if verdict != "refused":
            return answer
        if len(batch) == 1:
            self._dead_letter(batch, answer)
            outcome.dead_lettered += 1
            return None
        for half in batch.halves():  # find the refused record(s): the rest still goes up
            failed = self._deliver(half, outcome)
            if failed is not None:
                return failed
        return None

    def _dead_letter(self, batch: Batch, answer: Answer) -> None:
        record_id = self.outbox.dead_letter(batch, answer.describe())
        log.warning("record refused by the cloud, set aside in the dead-letter list",
                    extra=kv(record_id=record_id, answer=answer.describe(),
                             action="gateway dlq list; fix, then gateway dlq retry"))

    def _record(self, outcome: RoundOutcome, seconds: float) -> None:
        """Log the round and keep sync_state (what `gateway status` shows) up to date."""
        progressed = outcome.accepted or outcome.dead_lettered
        if progressed:
            log.info("upload round", extra=kv(
                records=outcome.accepted, dead_lettered=outcome.dead_lettered,
                requests=outcome.requests, kb=round(outcome.wire_bytes / 1024, 1),
                ms=round(seconds * 1000)))
        if progressed or outcome.failure is None:  # the link works: backoff starts over
            if self.failures:
                log.info("upload working again", extra=kv(failures=self.failures))
            if self.paused:
                log.info("cloud accepts the token again: uploads resumed")
            self.failures, self.paused = 0, False
        if outcome.failure is None:
            self.outbox.set_state(paused="", consecutive_failures="0")
            return
        self.failures += 1
        self._log_failure(outcome)
        self.outbox.count_upload("paused" if outcome.failure == "auth" else "retry")
        self.outbox.set_state(paused="auth" if outcome.failure == "auth" else "",
                        last_error=outcome.error, last_error_ms=str(now_ms()),
                        consecutive_failures=str(self.failures))

    def _log_failure(self, outcome: RoundOutcome) -> None:
        if outcome.failure == "auth":
            if not self.paused:  # once per pause, not per retry
                self.paused = True
                log.error("cloud refused the token: uploads paused, all records kept",
                          extra=kv(answer=outcome.error, retry_every_s=self.sync.backoff_max_s,
                                   action="check sync.token_file or GATEWAY_SYNC_TOKEN, "
                                          "then restart the service"))
            return
        first = self.failures == 1 or outcome.error != self.outbox.state.get("last_error")
        (log.warning if first else log.debug)(
            "upload failed, records kept for a later try",
            extra=kv(error=outcome.error, failures=self.failures,
                     retry_after_s=outcome.retry_after_s))


# --- doctor ---------------------------------------------------------------------------------


def probe(sync: SyncSection, gateway_id: str,
          session_factory=requests.Session) -> tuple[bool, str]:
    """For `gateway doctor`: POST an empty batch; is the cloud reachable, is the token good?"""
    reason = sync_disabled_reason(sync)
    if reason:
        return True, reason
    if not sync.token:
        return False, "no sync token: set sync.token_file or GATEWAY_SYNC_TOKEN"
    url = records_url(sync, gateway_id)
    batch_id = f"probe-{now_ms()}"
    body = json.dumps({"gateway_id": gateway_id, "batch_id": batch_id, "records": []}).encode()
    with new_session(sync, session_factory) as session:
        answer = post_batch(session, url, sync, batch_id, zlib.compress(body, 1, wbits=31))
    verdict = answer.verdict
    if verdict == "accepted":
        return True, f"cloud reachable at {sync.url} and the token is accepted"
    if verdict == "auth":
        return False, (f"cloud refused the token ({answer.describe()}): check "
                       "sync.token_file or GATEWAY_SYNC_TOKEN")
    if answer.status is None:
        hint = "sync.ca_file" if "SSL" in answer.text else "the network, DNS and sync.url"
        return False, f"cannot reach {sync.url} ({answer.text}): check {hint}"
    if answer.status == 404:
        return False, f"no upload endpoint at {url} (HTTP 404): check sync.url"
    return False, f"cloud answered {answer.describe()}: uploads will retry; ask the cloud team"
