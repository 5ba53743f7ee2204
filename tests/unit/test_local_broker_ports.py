"""The suite's ports: outside the kernel's ephemeral range, so a listener restarted on its
port cannot find it taken by a client's outgoing connection (a CI run failed so)."""

import socket

from gateway.devtools import local_broker
from gateway.devtools.local_broker import _ephemeral_ports, free_port


def test_free_ports_are_outside_the_ephemeral_range_and_bindable():
    ephemeral = _ephemeral_ports()
    for _ in range(20):
        port = free_port()
        assert port not in ephemeral
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_offered(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        taken = held.getsockname()[1]
        other = free_port()
        # the taken port is the first candidate drawn: it must be passed over
        monkeypatch.setattr(local_broker.random, "sample", lambda seq, k: [taken, other])
        assert free_port() == other
