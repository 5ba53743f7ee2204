"""The reference receiver: the upstream API of docs/upstream.md as a small HTTP server.

It is the executable spec for the cloud team and the stand-in for the cloud in the tests,
the benchmark and the demo:

    POST /v1/gateways/<gateway_id>/records      the upload (docs/upstream-api.yaml)
    POST /_control    {"down_s": 5} or fault settings (see Faults); same bearer token
    GET  /_stats      {"records": n, "requests": m}; same bearer token

The checks and their order are in `Api.upload`. Records are kept in memory by id: one
already held counts as a duplicate and is not stored again, which is what gives the cloud
exactly one copy whatever the gateway resends.

Run it: `gateway receiver --port 8080 --token-file token.txt`, or `serve()` from Python.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import random
import re
import signal
import threading
import time
import zlib
from dataclasses import asdict, dataclass, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

from gateway.logs import kv, setup_logging

log = logging.getLogger("gateway.receiver")

RECORDS_PATH = re.compile(r"/v1/gateways/([A-Za-z0-9_.-]{1,64})/records")
KINDS = frozenset({"result", "alert", "telemetry"})
MAX_WIRE_BYTES = 32 * 1024 * 1024
MAX_BODY_BYTES = 128 * 1024 * 1024  # decompressed: a gzip bomb stops here
MAX_IDS_NAMED = 100  # invalid record ids named in one 422 answer


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


# --- the API, without HTTP ------------------------------------------------------------------


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

    def upload(self, gateway_id: str, headers, wire: bytes) -> Reply:
        """Checks, in this order: injected faults; the token (401); Content-Type and
        Content-Encoding (415); gzip and size (400, 413); the JSON envelope, Idempotency-Key
        equal to batch_id (400); a key seen before (same content: its first answer again,
        other content: 422); each record (422 naming them, nothing stored). Then stores."""
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

    def _check(self, gateway_id: str, headers, wire: bytes) -> Reply | tuple[dict, bytes]:
        """Everything before the records: faults, token, headers, gzip, JSON envelope."""
        injected = self.faults.take_status()
        if injected:
            status, retry_after = injected
            return Reply(status, {"error": f"injected fault {status}"},
                         {"Retry-After": retry_after} if retry_after else {})
        if not self.authorised(headers.get("Authorization")):
            return Reply(401, {"error": "missing or wrong bearer token"},
                         {"WWW-Authenticate": "Bearer"})
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return Reply(415, {"error": "Content-Type must be application/json"})
        encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("gzip", "identity"):
            return Reply(415, {"error": "Content-Encoding must be gzip"})
        body = wire if encoding == "identity" else gunzip(wire)
        if isinstance(body, Reply):
            return body
        try:
            batch = json.loads(body)
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


def gunzip(wire: bytes) -> bytes | Reply:
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(wire, MAX_BODY_BYTES)
    except zlib.error as e:
        return Reply(400, {"error": f"body is not valid gzip: {e}"})
    if inflater.unconsumed_tail:
        return Reply(413, {"error": f"body is over {MAX_BODY_BYTES} bytes uncompressed"})
    if not inflater.eof:
        return Reply(400, {"error": "body is truncated gzip"})
    return body


def peek(wire: bytes) -> tuple[tuple[str, ...], int]:
    """Record ids and JSON size of a body that was not accepted, for the request log only."""
    body = gunzip(wire) if wire[:2] == b"\x1f\x8b" else wire
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


# --- HTTP -----------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a kept-alive connection must not hold up stop()
    receiver: ReceiverServer

    def handle_error(self, request, client_address) -> None:
        # e.g. a gateway killed while waiting for its answer: normal here, no traceback
        log.debug("connection failed", extra=kv(client=client_address), exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection carries many uploads
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: _HttpServer

    def _dropped(self) -> bool:
        """While down, a connection opened before is dropped too, as by a dead server."""
        if self.server.receiver.is_down:
            self.close_connection = True
            return True
        return False

    def do_POST(self) -> None:
        receiver = self.server.receiver
        if self._dropped():
            return
        wire = self._read_body()
        if wire is None:
            return
        path = self.path.split("?", 1)[0]
        match = RECORDS_PATH.fullmatch(path)
        if match:
            reply = receiver.api.upload(match.group(1), self.headers, wire)
            log.info("upload", extra=kv(status=reply.status, cut=reply.cut, bytes=len(wire),
                                        **reply.body))
        elif path == "/_control":
            reply = receiver.control(self.headers, wire)
        else:
            reply = Reply(404, {"error": f"no such endpoint: POST {path}"})
        if reply.cut:  # the batch is stored, but the gateway never hears so
            self.close_connection = True
            return
        self._reply(reply)

    def do_GET(self) -> None:
        receiver = self.server.receiver
        if self._dropped():
            return
        if self.path != "/_stats":
            self._reply(Reply(404, {"error": f"no such endpoint: GET {self.path}"}))
        elif not receiver.api.authorised(self.headers.get("Authorization")):
            self._reply(Reply(401, {"error": "missing or wrong bearer token"}))
        else:
            self._reply(Reply(200, receiver.stats()))

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._reply(Reply(411, {"error": "Content-Length is required"}))
            return None
        if length > MAX_WIRE_BYTES:
            self.close_connection = True  # the unread body makes the connection unusable
            self._reply(Reply(413, {"error": f"body is over {MAX_WIRE_BYTES} bytes"}))
            return None
        return self.rfile.read(length)

    def _reply(self, reply: Reply) -> None:
        body = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format % args)


class ReceiverServer:
    """The receiver on a port, served from background threads.

    `faults` injects misbehaviour; `go_down(s)` closes the port (connections are refused,
    kept-alive ones dropped) and reopens it after s seconds; `records` and `requests` are
    what the tests check.
    """

    def __init__(self, host: str, port: int, token: str, keep_data: bool = True):
        self.host, self.port = host, port
        self.faults = Faults()
        self.api = Api(token, self.faults, keep_data)
        self.is_down = False
        self._lock = threading.Lock()
        self._httpd: _HttpServer | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def records(self) -> dict[str, dict | None]:
        """Record id → record (None with keep_data=False), a copy."""
        with self.api.lock:
            return dict(self.api.records)

    @property
    def requests(self) -> list[Logged]:
        """Every upload received, in order, with the status answered, a copy."""
        with self.api.lock:
            return list(self.api.log)

    def stats(self) -> dict[str, int]:
        with self.api.lock:
            return {"records": len(self.api.records), "requests": len(self.api.log)}

    def set_token(self, token: str) -> None:
        self.api.token = token

    def start(self) -> ReceiverServer:
        with self._lock:
            httpd = _HttpServer((self.host, self.port), _Handler)
            httpd.receiver = self
            self.port = httpd.server_address[1]  # the same port again after go_down()
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                             name="receiver", daemon=True).start()
            self._httpd, self.is_down = httpd, False
        return self

    def go_down(self, seconds: float | None = None) -> None:
        """Close the listening socket; reopen it after `seconds` (None: when come_up())."""
        with self._lock:
            self.is_down = True
            self._close_listener()
            if seconds is not None:
                self._timer = threading.Timer(seconds, self.come_up)
                self._timer.daemon = True
                self._timer.start()

    def come_up(self) -> None:
        if self._httpd is None:
            self.start()

    def _close_listener(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def control(self, headers, wire: bytes) -> Reply:
        """POST /_control: {"down_s": 5} | {"up": true} | {"clear": true} |
        {"token": "..."} | fault settings, e.g. {"status": 503, "retry_after": "2"}."""
        if not self.api.authorised(headers.get("Authorization")):
            return Reply(401, {"error": "missing or wrong bearer token"})
        try:
            orders = json.loads(wire or b"{}")
            if orders.pop("clear", False):
                self.faults.clear()
            if "token" in orders:
                self.set_token(str(orders.pop("token")))
            if orders.pop("up", False):
                self.come_up()
            down_s = orders.pop("down_s", None)
            self.faults.set(**orders)
        except (ValueError, TypeError, AttributeError) as e:
            return Reply(400, {"error": str(e)})
        if down_s is not None:
            self.go_down(float(down_s))
        return Reply(200, {"faults": asdict(self.faults.settings), "down": self.is_down})

    def stop(self) -> None:
        with self._lock:
            self.is_down = True
            self._close_listener()


def serve(host: str = "127.0.0.1", port: int = 0, token: str = "", *,
          keep_data: bool = True) -> ReceiverServer:
    """Start a receiver in background threads (port 0: a free one; see `.url`)."""
    return ReceiverServer(host, port, token, keep_data).start()


# --- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument("--token-file", required=True, type=Path,
                        help="file holding the bearer token the gateways must send")
    parser.add_argument("--ids-only", action="store_true",
                        help="keep only record ids in memory (benchmarks)")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))


def run(args: argparse.Namespace) -> int:
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise SystemExit(f"receiver: cannot read token file {args.token_file}: {e}") from None
    if not token:
        raise SystemExit(f"receiver: token file {args.token_file} is empty")
    setup_logging(args.log_level)
    server = serve(args.host, args.port, token, keep_data=not args.ids_only)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"receiver listening on {server.url}", flush=True)
    stop.wait()
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway receiver",
                                     description="reference receiver of the upstream API")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
