"""The upstream API of docs/upstream.md without HTTP: headers and body in, a Reply out.

`Api.upload` holds the checks and their order. Records are kept in memory by id: one already
held counts as a duplicate and is not stored again, which is what gives the cloud exactly one
copy whatever the gateway resends. `Faults` makes it misbehave on cue, for the tests and the
benchmark. receiver.py serves it over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import zlib
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

KINDS = frozenset({"result", "alert", "telemetry"})
# Decompressed: a gzip bomb stops here. The gateway's largest batch (sync.batch_bytes at
# most 16 MiB) fits; a single record larger than that is answered 413 and set aside.
MAX_BODY_BYTES = 16 * 1024 * 1024
GUNZIP_STEP = 1024 * 1024  # inflated this much at a time, so the cap is checked as it grows
MAX_IDS_NAMED = 100  # invalid record ids named in one 422 answer


# --- faults ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultSettings:
    """Misbehaviour on cue. Counts (`*_times`, `cut_after_store`) go down as they fire."""

    status: int = 0  # answer uploads with this status (e.g. 401, 500, 503); 0 = off
    status_times: int = -1  # how many uploads get it; -1 = until cleared
    retry_after: str = ""  # Retry-After header sent with `status`
    error_rate: float = 0.0  # probability of a 500 for each upload
    cut_after_store: int = 0  # next n uploads: store the records, then drop the connection
    poison: str = ""  # records whose data contains this text are refused...
    poison_status: int = 422  # ...with this status (400, 413 or 422)
    delay_s: float = 0.0  # wait before handling each upload


class Faults:
    """Thread-safe fault settings: `faults.set(status=503, retry_after="2", status_times=1)`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self.rng = random.Random()  # seed it for a repeatable error_rate

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def set(self, **changes: Any) -> None:
        known = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            self._settings = replace(self._settings, **changes)

    def clear(self) -> None:
        with self._lock:
            self._settings = FaultSettings()

    def take_status(self) -> tuple[int, str] | None:
        """The injected (status, retry_after) for this upload, if any."""
        with self._lock:
            s = self._settings
            if s.status and s.status_times != 0:
                self._settings = replace(s, status_times=max(s.status_times - 1, -1))
                return s.status, s.retry_after
            if s.error_rate and self.rng.random() < s.error_rate:
                return 500, ""
        return None

    def take_cut(self) -> bool:
        with self._lock:
            if self._settings.cut_after_store > 0:
                self._settings = replace(self._settings,
                                         cut_after_store=self._settings.cut_after_store - 1)
                return True
        return False


# --- the API --------------------------------------------------------------------------------


class Logged(NamedTuple):
    """One upload as the receiver saw it; `cut` = the answer was never sent."""

    batch_id: str
    ids: tuple[str, ...]
    status: int
    raw_bytes: int
    cut: bool = False
    replayed: bool = False
    at: float = 0.0  # time.monotonic() when answered


class Reply(NamedTuple):
    status: int
    body: dict
    headers: dict[str, str] = {}
    cut: bool = False


def record_problem(record: Any) -> str | None:
    """What is wrong with one record, or None."""
    if not isinstance(record, dict):
        return "not an object"
    if not isinstance(record.get("id"), str) or not record["id"]:
        return "id must be a non-empty string"
    if record.get("kind") not in KINDS:
        return "kind must be one of alert, result, telemetry"
    if not isinstance(record.get("device_id"), str) or not record["device_id"]:
        return "device_id must be a non-empty string"
    ts = record.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        return "ts must be an integer (epoch milliseconds)"
    if not isinstance(record.get("data"), dict):
        return "data must be an object"
    return None


class Api:
    """The upload endpoint's logic: headers and body in, a Reply out."""

    def __init__(self, token: str, faults: Faults, keep_data: bool = True):
        self.token, self.faults, self.keep_data = token, faults, keep_data
        self.records: dict[str, dict | None] = {}  # id → record (None: ids only, benchmarks)
        self.lock = threading.Lock()  # a batch is stored and logged as one step
        self.log: list[Logged] = []
        self._answers: dict[str, tuple[bytes, dict]] = {}  # Idempotency-Key → (digest, answer)

    def authorised(self, header: str | None) -> bool:
        return hmac.compare_digest((header or "").encode(), f"Bearer {self.token}".encode())

    def refuse_token(self, headers) -> Reply:
        """The answer to an upload without the right token, logged; its body is never read."""
        with self.lock:
            return self._logged(headers.get("Idempotency-Key") or "", (), 0, Reply(
                401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"}))

    def upload(self, gateway_id: str, headers, wire: bytes) -> Reply:
        """For an upload whose token was checked before its body was read (the server's
        job: `authorised`, `refuse_token`). Checks, in this order: injected faults;
        Content-Type and Content-Encoding (415); gzip and size (400, 413); strict JSON and
        the envelope, Idempotency-Key equal to batch_id (400); a key seen before (same
        content: its first answer again, other content: 422); each record (422 naming them,
        nothing stored). Then stores."""
        if self.faults.settings.delay_s:
            time.sleep(self.faults.settings.delay_s)
        checked = self._check(gateway_id, headers, wire)
        if isinstance(checked, Reply):  # logged with what can be read of the body
            ids, size = peek(wire)
            with self.lock:
                return self._logged(headers.get("Idempotency-Key") or "", ids, size, checked)
        batch, body = checked
        return self._store(batch, hashlib.blake2b(body, digest_size=16).digest(),
                           len(body))

    def _check(self, gateway_id: str, headers,
               wire: bytes) -> Reply | tuple[dict, bytes | bytearray]:
        """Everything before the records: faults, headers, gzip, JSON envelope."""
        injected = self.faults.take_status()
        if injected:
            status, retry_after = injected
            return Reply(status, {"error": f"injected fault {status}"},
                         {"Retry-After": retry_after} if retry_after else {})
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return Reply(415, {"error": "Content-Type must be application/json"})
        encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("gzip", "identity"):
            return Reply(415, {"error": "Content-Encoding must be gzip"})
        body = wire if encoding == "identity" else gunzip(wire)
        if isinstance(body, Reply):
            return body
        if len(body) > MAX_BODY_BYTES:
            return Reply(413, {"error": f"body is over {MAX_BODY_BYTES} bytes uncompressed"})
        try:
            batch = json.loads(body, parse_constant=_not_json)
        except ValueError as e:
            return Reply(400, {"error": f"body is not JSON: {e}"})
        problem = envelope_problem(batch, gateway_id, headers.get("Idempotency-Key"))
        return Reply(400, {"error": problem}) if problem else (batch, body)

    def _store(self, batch: dict, digest: bytes, size: int) -> Reply:
        records, key = batch["records"], batch["batch_id"]
        ids = tuple(r.get("id", "") if isinstance(r, dict) else "" for r in records)
        invalid, poisoned = self._invalid(records)
        with self.lock:
            if key in self._answers:
                seen, answer = self._answers[key]
                if seen != digest:
                    return self._logged(key, ids, size, Reply(422, {
                        "error": "Idempotency-Key already used for a different batch"}))
                return self._logged(key, ids, size, Reply(200, answer,
                                    {"Idempotent-Replayed": "true"}), replayed=True)
            if invalid:
                return self._logged(key, ids, size, Reply(self.faults.settings.poison_status
                                                          if poisoned else 422, {
                    "error": "invalid records", "invalid": invalid[:MAX_IDS_NAMED]}))
            held, before = self.records, len(self.records)
            for record in records:
                if record["id"] not in held:
                    held[record["id"]] = record if self.keep_data else None
            accepted = len(held) - before
            answer = {"accepted": accepted, "duplicates": len(records) - accepted}
            self._answers[key] = (digest, answer)
            return self._logged(key, ids, size, Reply(200, answer, {},
                                                      self.faults.take_cut()))

    def _invalid(self, records: list) -> tuple[list[dict], bool]:
        """The invalid records named with their problem, and whether any is a poisoned one."""
        invalid = [{"id": r.get("id") if isinstance(r, dict) else None, "problem": p}
                   for r in records if (p := record_problem(r))]
        poison = self.faults.settings.poison
        if not poison or invalid:
            return invalid, False
        poisoned = [{"id": r["id"], "problem": f"data contains {poison!r}"}
                    for r in records if poison in json.dumps(r["data"])]
        return poisoned, bool(poisoned)

    def _logged(self, key: str, ids: tuple, size: int, reply: Reply,
                replayed: bool = False) -> Reply:
        self.log.append(Logged(key, ids, reply.status, size, reply.cut, replayed,
                               time.monotonic()))
        return reply


def _not_json(constant: str):
    """Python's json reads Infinity, -Infinity and NaN; JSON (RFC 8259) has none of them."""
    raise ValueError(f"{constant} is not a JSON number")


def gunzip(wire: bytes) -> bytes | bytearray | Reply:
    """Inflate step by step and stop as soon as the output passes MAX_BODY_BYTES: a 126 KB
    bomb costs at most the cap (it used to be inflated to 128 MiB and then parsed)."""
    inflater = zlib.decompressobj(wbits=31)
    body, pending = bytearray(), wire
    try:
        while not inflater.eof:
            piece = inflater.decompress(pending, GUNZIP_STEP)
            pending = inflater.unconsumed_tail
            body += piece
            if len(body) > MAX_BODY_BYTES:
                return Reply(413, {"error": f"body is over {MAX_BODY_BYTES} bytes uncompressed"})
            if not piece and not pending:
                break
    except zlib.error as e:
        return Reply(400, {"error": f"body is not valid gzip: {e}"})
    if not inflater.eof:
        return Reply(400, {"error": "body is truncated gzip"})
    return body


def peek(wire: bytes) -> tuple[tuple[str, ...], int]:
    """Record ids and JSON size of an authenticated body that was not accepted, for the
    request log only (bounded like any body: gunzip stops at the cap)."""
    body = gunzip(wire) if wire[:2] == b"\x1f\x8b" else wire
    if isinstance(body, Reply):
        return (), len(wire)
    try:
        records = json.loads(body)["records"]
        return tuple(str(r.get("id", "")) for r in records), len(body)
    except (TypeError, ValueError, KeyError, AttributeError):
        return (), len(wire)


def envelope_problem(batch: Any, gateway_id: str, key: str | None) -> str | None:
    if not isinstance(batch, dict):
        return "body must be a JSON object"
    if batch.get("gateway_id") != gateway_id:
        return "gateway_id in the body must equal the one in the path"
    if not isinstance(batch.get("batch_id"), str) or not batch["batch_id"]:
        return "batch_id must be a non-empty string"
    if key != batch["batch_id"]:
        return "the Idempotency-Key header must equal batch_id"
    if not isinstance(batch.get("records"), list):
        return "records must be a list"
    return None
