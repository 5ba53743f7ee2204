"""sd_notify over real AF_UNIX datagram sockets, as systemd would receive it."""

from __future__ import annotations

import os
import socket
import time

import pytest

from gateway.service.sdnotify import Notifier, notify_socket_from, watchdog_usec_from


@pytest.fixture
def receiver(tmp_path):
    """A datagram socket bound to a path, standing in for systemd's notify socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, str(path)
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_messages_arrive_on_a_path_socket(receiver):
    sock, path = receiver
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready(status="started")
    assert received(sock) == ["READY=1", "STATUS=started"]
    notifier.status("intake 5/s\nqueue 0")
    assert received(sock) == ["STATUS=intake 5/s queue 0"]  # one line, always
    notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    notifier.stopping()
    assert received(sock) == ["STOPPING=1"]
    notifier.close()


def test_reloading_carries_the_monotonic_time(receiver):
    sock, path = receiver
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier.from_environ({"NOTIFY_SOCKET": path}).reloading()
    lines = received(sock)
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_abstract_socket():
    name = f"sensor-gateway-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert received(sock) == ["READY=1"]


def test_without_notify_socket_everything_is_a_no_op():
    notifier = Notifier.from_environ({"WATCHDOG_USEC": "30000000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_a_vanished_socket_is_logged_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not notifier.status("x")
    warnings = [r for r in caplog.records if r.name == "gateway.sdnotify"]
    assert len(warnings) == 1 and "cannot notify systemd" in warnings[0].getMessage()


def test_watchdog_interval_is_half_of_watchdog_sec(receiver):
    _, path = receiver
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"}
    assert Notifier.from_environ(env).watchdog_interval_s == 15.0
    assert Notifier.from_environ({**env, "WATCHDOG_PID": str(os.getpid())}
                                 ).watchdog_interval_s == 15.0


def test_a_watchdog_meant_for_another_process_is_ignored():
    assert watchdog_usec_from({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 4242) is None
    assert watchdog_usec_from({"WATCHDOG_USEC": "nonsense"}, 4242) is None
    assert watchdog_usec_from({"WATCHDOG_USEC": "0"}, 4242) is None
    assert watchdog_usec_from({"WATCHDOG_USEC": "8000000", "WATCHDOG_PID": "4242"}, 4242) == 8e6


def test_socket_addresses():
    assert notify_socket_from({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_socket_from({"NOTIFY_SOCKET": "@abc"}) == b"\0abc"
    assert notify_socket_from({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    assert notify_socket_from({"NOTIFY_SOCKET": "@"}) is None
    assert notify_socket_from({}) is None
