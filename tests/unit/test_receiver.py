"""The reference receiver's own contract, over real HTTP on 127.0.0.1, and the OpenAPI file
that documents the same API."""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
import requests

from gateway.delivery.uplink import AUTH, REFUSED, THROTTLED
from gateway.devtools.receiver import api as receiver_api
from gateway.devtools.receiver import server as receiver_server
from gateway.devtools.receiver.api import KINDS
from gateway.devtools.receiver.server import serve
from tests.support import REPO, wait_for

TOKEN = "receiver-test-token"
GATEWAY = "gw-r-1"
SPEC = REPO / "docs" / "upstream-api.yaml"


@pytest.fixture
def receiver():
    server = serve(token=TOKEN)
    yield server
    server.stop()


def record(n: int, **changes) -> dict:
    value = {"id": f"s-{n}", "kind": "telemetry", "device_id": "box-1", "ts": 1000 + n,
             "data": {"n": n}}
    value.update(changes)
    return value


def batch(*records: dict, batch_id: str = "b-1", gateway_id: str = GATEWAY) -> dict:
    return {"gateway_id": gateway_id, "batch_id": batch_id, "records": list(records)}


def post(server, body, *, token: str | None = TOKEN, key: str | None = "", compress=True,
         headers: dict | None = None, path: str = f"/v1/gateways/{GATEWAY}/records"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"}
    if compress:
        raw = gzip.compress(raw)
        sent["Content-Encoding"] = "gzip"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if key == "" and isinstance(body, dict):
        key = body.get("batch_id")
    if key:
        sent["Idempotency-Key"] = key
    sent.update(headers or {})
    return requests.post(server.url + path, data=raw, headers=sent, timeout=5)


# --- accepting and deduplicating ------------------------------------------------------------


def test_a_valid_batch_is_stored(receiver):
    answer = post(receiver, batch(record(1), record(2, kind="alert")))
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 2, "duplicates": 0}
    assert receiver.records["s-2"] == record(2, kind="alert")
    (logged,) = receiver.requests
    assert (logged.batch_id, logged.ids, logged.status) == ("b-1", ("s-1", "s-2"), 200)


def test_records_are_stored_once_by_id(receiver):
    post(receiver, batch(record(1), record(2)))
    answer = post(receiver, batch(record(2), record(3), record(3), batch_id="b-2"))
    assert answer.json() == {"accepted": 1, "duplicates": 2}
    assert sorted(receiver.records) == ["s-1", "s-2", "s-3"]


def test_a_replayed_batch_gets_its_first_answer(receiver):
    first = post(receiver, batch(record(1), record(2)))
    again = post(receiver, batch(record(1), record(2)))
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert receiver.requests[-1].replayed and len(receiver.records) == 2


def test_a_reused_key_with_other_content_is_refused(receiver):
    post(receiver, batch(record(1)))
    answer = post(receiver, batch(record(9)))
    assert answer.status_code == 422 and "Idempotency-Key" in answer.json()["error"]
    assert "s-9" not in receiver.records


def test_an_empty_batch_is_accepted(receiver):
    assert post(receiver, batch()).json() == {"accepted": 0, "duplicates": 0}


def test_plain_json_is_accepted_too(receiver):
    assert post(receiver, batch(record(1)), compress=False).status_code == 200


# --- refusing -------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_a_missing_or_wrong_token_is_401(receiver, token):
    answer = post(receiver, batch(record(1)), token=token)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert not receiver.records


@pytest.mark.parametrize(("change", "status"), [
    ({"key": None}, 400),
    ({"key": "other"}, 400),
    ({"headers": {"Content-Type": "text/plain"}}, 415),
    ({"headers": {"Content-Encoding": "br"}}, 415),
    ({"path": "/v1/gateways/gw-other/records"}, 400),
    ({"path": "/v2/records"}, 404),
])
def test_envelope_problems(receiver, change, status):
    assert post(receiver, batch(record(1)), **change).status_code == status
    assert not receiver.records


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"gateway_id": "gw-r-1"}',
                                  b'{"gateway_id": "gw-r-1", "batch_id": "b", "records": {}}'])
def test_malformed_bodies_are_400(receiver, body):
    answer = post(receiver, body, key="b")
    assert answer.status_code == 400 and answer.json()["error"]


def test_broken_gzip_is_400(receiver):
    raw = gzip.compress(json.dumps(batch(record(1))).encode())
    answer = post(receiver, raw[:-12], key="b-1", compress=False,
                  headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 400 and "gzip" in answer.json()["error"]


def test_an_oversized_body_is_413(receiver, monkeypatch):
    monkeypatch.setattr(receiver_api, "MAX_BODY_BYTES", 1000)
    answer = post(receiver, batch(*[record(n) for n in range(50)]))
    assert answer.status_code == 413 and not receiver.records


@pytest.mark.parametrize("bad", [
    {"id": ""}, {"id": 7}, {"kind": "audio"}, {"device_id": None}, {"ts": 1.5}, {"ts": True},
    {"ts": "1000"}, {"data": [1, 2]}, {"data": "x"},
], ids=lambda bad: json.dumps(bad))
def test_an_invalid_record_is_422_naming_it_and_nothing_is_stored(receiver, bad):
    answer = post(receiver, batch(record(1), record(2, **bad), record(3)))
    assert answer.status_code == 422
    (invalid,) = answer.json()["invalid"]
    assert invalid["id"] == bad.get("id", "s-2") and invalid["problem"]
    assert not receiver.records


def test_kinds_are_the_documented_ones():
    assert {"result", "alert", "telemetry"} == KINDS


# --- faults on cue --------------------------------------------------------------------------


def test_injected_status_with_retry_after_then_normal(receiver):
    receiver.faults.set(status=503, retry_after="7", status_times=2)
    answers = [post(receiver, batch(record(1))) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert [e.status for e in receiver.requests] == [503, 503, 200]
    assert receiver.requests[0].ids == ("s-1",)


def test_error_rate_gives_500s(receiver):
    receiver.faults.rng.seed(3)
    receiver.faults.set(error_rate=0.5)
    codes = {post(receiver, batch(record(n), batch_id=f"b-{n}")).status_code for n in range(20)}
    assert codes == {200, 500}


def test_cut_stores_the_batch_but_drops_the_answer(receiver):
    receiver.faults.set(cut_after_store=1)
    with pytest.raises(requests.ConnectionError):
        post(receiver, batch(record(1)))
    assert "s-1" in receiver.records and receiver.requests[0].cut
    assert post(receiver, batch(record(1))).headers["Idempotent-Replayed"] == "true"


def test_poison_marker_is_refused_with_the_chosen_status(receiver):
    receiver.faults.set(poison="POISON", poison_status=413)
    answer = post(receiver, batch(record(1), record(2, data={"x": "POISON"})))
    assert answer.status_code == 413 and answer.json()["invalid"][0]["id"] == "s-2"
    assert post(receiver, batch(record(1), batch_id="b-2")).status_code == 200


def test_down_refuses_connections_then_comes_back_on_the_same_port(receiver):
    session = requests.Session()  # a kept-alive connection is dropped too
    url = receiver.url
    assert session.get(url + "/_stats", headers={"Authorization": f"Bearer {TOKEN}"}).ok
    receiver.go_down(0.3)
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/_stats", headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(requests.ConnectionError):
        post(receiver, batch(record(1)))
    wait_for(lambda: not receiver.is_down, what="receiver up again")
    assert receiver.url == url and post(receiver, batch(record(1))).status_code == 200


def test_unknown_fault_settings_are_refused(receiver):
    with pytest.raises(ValueError, match="nonsense"):
        receiver.faults.set(nonsense=1)


def test_control_endpoint(receiver):
    control = receiver.url + "/_control"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.post(control, json={"status": 500}, timeout=5).status_code == 401
    assert requests.post(control, json={"bogus": 1}, headers=auth, timeout=5).status_code == 400
    answer = requests.post(control, json={"status": 503, "retry_after": "2", "status_times": 1},
                           headers=auth, timeout=5)
    assert answer.status_code == 200 and answer.json()["faults"]["status"] == 503
    assert post(receiver, batch(record(1))).status_code == 503
    requests.post(control, json={"token": "new"}, headers=auth, timeout=5)
    assert post(receiver, batch(record(1)), token="new").status_code == 200
    auth = {"Authorization": "Bearer new"}
    stats = requests.get(receiver.url + "/_stats", headers=auth, timeout=5).json()
    assert stats == {"records": 1, "requests": 2}
    assert requests.post(control, json={"down_s": 0.2}, headers=auth, timeout=5).ok
    wait_for(lambda: not receiver.is_down, what="receiver up again")


# --- the command line ------------------------------------------------------------


def test_command_line(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.devtools.receiver.server", "--port", "0", "--token-file",
         str(token_file), "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("receiver listening on http://127.0.0.1:")

        class Server:
            url = line.split()[-1]

        assert post(Server, batch(record(1))).json() == {"accepted": 1, "duplicates": 0}
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait(10)


# --- the OpenAPI file -----------------------------------------------------------------------


def spec() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML (the dev extra) reads the OpenAPI file")
    return yaml.safe_load(Path(SPEC).read_text())


def test_openapi_file_describes_the_upload():
    doc = spec()
    assert doc["openapi"].startswith("3.")
    upload = doc["paths"]["/v1/gateways/{gateway_id}/records"]["post"]
    headers = {p["name"] for p in upload["parameters"] if p["in"] == "header"}
    assert {"Idempotency-Key", "Content-Encoding"} <= headers
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    schemas = doc["components"]["schemas"]
    assert set(schemas["Record"]["properties"]["kind"]["enum"]) == KINDS
    assert set(schemas["Record"]["required"]) == {"id", "kind", "device_id", "ts", "data"}
    assert set(schemas["Batch"]["required"]) == {"gateway_id", "batch_id", "records"}


def test_openapi_file_says_what_the_gateway_does_on_each_status():
    responses = spec()["paths"]["/v1/gateways/{gateway_id}/records"]["post"]["responses"]
    handled = {200, 409, 500} | REFUSED | AUTH | THROTTLED
    assert {int(code) for code in responses} == handled
    for code in THROTTLED:
        assert "Retry-After" in responses[str(code)]["headers"]


def test_openapi_example_is_accepted_by_the_receiver(receiver):
    upload = spec()["paths"]["/v1/gateways/{gateway_id}/records"]["post"]
    example = upload["requestBody"]["content"]["application/json"]["example"]
    answer = post(receiver, example, path=f"/v1/gateways/{example['gateway_id']}/records")
    assert answer.json() == {"accepted": 2, "duplicates": 0}


# --- hostile senders (issue 12.8): authenticate first, bound everything -------------------------


def raw_request(server, head: str, body: bytes = b"", *, wait_s: float = 5.0) -> bytes:
    """Send `head` (request line and headers) and `body` on a raw socket, keep it open, and
    return what the server answers within wait_s (b"" if it closed without a word)."""
    with socket.create_connection((server.host, server.port), timeout=wait_s) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while b"\r\n\r\n" not in answer:
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        return answer


def upload_head(length: int | str, token: str = TOKEN, encoding: str = "gzip") -> str:
    return (f"POST /v1/gateways/{GATEWAY}/records HTTP/1.1\nHost: x\n"
            f"Authorization: Bearer {token}\nContent-Type: application/json\n"
            f"Content-Encoding: {encoding}\nIdempotency-Key: b-1\nContent-Length: {length}\n")


def test_a_wrong_token_is_refused_before_the_body_is_read(receiver):
    # Before: a 300 MiB body was read (and gunzipped for the log) before the token check.
    answer = raw_request(receiver, upload_head(300 * 1024 * 1024, token="wrong"), b"x" * 1000)
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert [e.status for e in receiver.requests] == [401]


def test_a_negative_content_length_is_refused_not_read_to_the_end(receiver):
    # Before: rfile.read(-1) waited for the end of the stream, holding the connection.
    answer = raw_request(receiver, upload_head(-1), b"x" * 100)
    assert answer.startswith(b"HTTP/1.1 400 ")


def peak_traced_bytes(action) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("token", [TOKEN, "wrong"])
def test_a_gzip_bomb_costs_at_most_the_cap(receiver, token):
    # Before: a 126 KB bomb was inflated to 128 MiB (MemoryError on a small box), even
    # without the token, to log its record ids.
    bomb = zlib.compress(b"\0" * (128 * 1024 * 1024), 9, wbits=31)
    assert len(bomb) < 200_000
    answers = []
    peak = peak_traced_bytes(lambda: answers.append(post(receiver, bomb, key="b-1",
                                                         compress=False, token=token,
                                                         headers={"Content-Encoding": "gzip"})))
    assert answers[0].status_code == (413 if token == TOKEN else 401)
    assert peak < receiver_api.MAX_BODY_BYTES + 8 * 1024 * 1024


def test_a_silent_connection_is_closed(receiver, monkeypatch):
    assert 0 < (receiver_server._Handler.timeout or 0) <= 60  # before: None, held for ever
    monkeypatch.setattr(receiver_server._Handler, "timeout", 0.5)
    with socket.create_connection((receiver.host, receiver.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/gateways/gw-r-1/records HTTP/1.1\r\n")  # and then nothing
        started = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 3


def test_infinity_is_not_json(receiver):
    body = json.dumps(batch(record(1, data={"score": float("inf")}))).encode()
    assert b"Infinity" in body
    answer = post(receiver, body, key="b-1")
    assert answer.status_code == 400 and "Infinity" in answer.json()["error"]
    assert not receiver.records
