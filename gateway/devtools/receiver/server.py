"""The reference receiver: the upstream API of docs/upstream.md as a small HTTP server.

It is the executable spec for the cloud team and the stand-in for the cloud in the tests,
the benchmark and the demo:

    POST /v1/gateways/<gateway_id>/records      the upload (docs/upstream-api.yaml)
    POST /_control    {"down_s": 5} or fault settings (see Faults); same bearer token
    GET  /_stats      {"records": n, "requests": m}; same bearer token

What an upload is checked for, and how it is stored, is in receiver_api.py (`Api.upload`,
`Faults`); this module serves it over HTTP, from Python or the command line.

Run it: `gateway receiver --port 8080 --token-file token.txt`, or `serve()` from Python.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import signal
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gateway.devtools.receiver.api import Api, Faults, Logged, Reply
from gateway.logs import kv, setup_logging

log = logging.getLogger("gateway.receiver")

RECORDS_PATH = re.compile(r"/v1/gateways/([A-Za-z0-9_.-]{1,64})/records")
MAX_WIRE_BYTES = 16 * 1024 * 1024  # compressed; the decompressed cap is api.MAX_BODY_BYTES
SOCKET_TIMEOUT_S = 30.0  # no byte for this long (headers or body): the connection is closed
BODY_DEADLINE_S = 120.0  # the whole body, however slowly it trickles in
READ_STEP = 256 * 1024
DRAIN_BYTES = 1024 * 1024  # of a refused body, read and dropped before closing
DRAIN_S = 2.0


# --- HTTP -----------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a kept-alive connection must not hold up stop()
    receiver: ReceiverServer

    def handle_error(self, request, client_address) -> None:
        # e.g. a gateway killed while waiting for its answer: normal here, no traceback
        log.debug("connection failed", extra=kv(client=client_address), exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection carries many uploads
    timeout = SOCKET_TIMEOUT_S  # socketserver sets it on the connection: no idle hold-open
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: _HttpServer

    def _dropped(self) -> bool:
        """While down, a connection opened before is dropped too, as by a dead server."""
        if self.server.receiver.is_down:
            self.close_connection = True
            return True
        return False

    def do_POST(self) -> None:
        """Route, authenticate, bound the length: all before a byte of the body is read."""
        receiver = self.server.receiver
        if self._dropped():
            return
        path = self.path.split("?", 1)[0]
        match = RECORDS_PATH.fullmatch(path)
        if not match and path != "/_control":
            self._refuse(Reply(404, {"error": f"no such endpoint: POST {path}"}))
            return
        if not receiver.api.authorised(self.headers.get("Authorization")):
            reply = (receiver.api.refuse_token(self.headers) if match else
                     Reply(401, {"error": "missing or wrong bearer token"}))
            log.info("refused", extra=kv(status=401, path=path, client=self.client_address[0]))
            self._refuse(reply)
            return
        wire = self._read_body()
        if wire is None:
            return
        if match:
            reply = receiver.api.upload(match.group(1), self.headers, wire)
            log.info("upload", extra=kv(status=reply.status, cut=reply.cut, bytes=len(wire),
                                        **reply.body))
        else:
            reply = receiver.control(self.headers, wire)
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

    def _refuse(self, reply: Reply) -> None:
        """Answer without reading the body, then close: the unread body makes the connection
        unusable. A little of it is read and thrown away first, so that closing does not
        reset the connection before the sender has read the answer."""
        self.close_connection = True
        self._reply(reply)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return
        left, deadline = min(max(length, 0), DRAIN_BYTES), time.monotonic() + DRAIN_S
        with contextlib.suppress(OSError):
            while left > 0 and time.monotonic() < deadline:
                piece = self.rfile.read1(min(left, READ_STEP))
                if not piece:
                    break
                left -= len(piece)

    def _read_body(self) -> bytes | None:
        """The body of an authenticated request: a Content-Length from 0 to MAX_WIRE_BYTES
        (no chunked bodies), read within BODY_DEADLINE_S however slowly it trickles in."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._refuse(Reply(411, {"error": "send a Content-Length, not a chunked body"}))
            return None
        text = (self.headers.get("Content-Length") or "").strip()
        if not text.isdigit():  # also refuses "-1", which would read to the end of the stream
            self._refuse(Reply(411 if not text else 400, {
                "error": "Content-Length must be a non-negative integer"}))
            return None
        length = int(text)
        if length > MAX_WIRE_BYTES:
            self._refuse(Reply(413, {"error": f"body is over {MAX_WIRE_BYTES} bytes"}))
            return None
        body, deadline = bytearray(), time.monotonic() + BODY_DEADLINE_S
        while len(body) < length:
            if time.monotonic() > deadline:
                self._refuse(Reply(408, {"error": f"body not received in {BODY_DEADLINE_S} s"}))
                return None
            piece = self.rfile.read1(min(length - len(body), READ_STEP))
            if not piece:  # the sender went away mid-body
                self.close_connection = True
                return None
            body += piece
        return bytes(body)

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
