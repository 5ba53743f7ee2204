"""The gateway's broker connection on a real Mosquitto: socket options that decide latency."""

from __future__ import annotations

import socket

import pytest

from gateway.config import load_config
from gateway.mqtt_bridge import MqttBridge
from tests.support import wait_for, write_config


class _Sink:
    def submit(self, record, on_durable=None) -> None:
        if on_durable is not None:
            on_durable()


def test_the_gateways_connection_sends_small_packets_at_once(tmp_path, broker):
    """Nagle's algorithm held a result published ~10 ms after a 4-byte PUBACK until the
    broker's delayed ACK: ~40 ms on every result at a quiet site."""
    config = load_config(write_config(tmp_path / "config.toml", gateway_id="gw-nodelay",
                                      data_dir=tmp_path / "data", port=broker.port))
    bridge = MqttBridge(config)
    bridge.start(_Sink())
    try:
        wait_for(bridge.is_connected, what="the bridge connected")
        sock = bridge.client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        bridge.stop()
        bridge.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # wanted
def test_the_bridge_tells_when_pahos_network_thread_has_died(tmp_path, broker):
    """An exception escaping a paho callback ends paho's thread, and with it reconnects and
    acknowledgements; the daemon's main loop stops beating `mqtt` when this says so."""
    config = load_config(write_config(tmp_path / "config.toml", gateway_id="gw-alive",
                                      data_dir=tmp_path / "data", port=broker.port))
    bridge = MqttBridge(config)
    assert not bridge.network_alive()  # not started
    bridge.start(_Sink())
    try:
        wait_for(bridge.is_connected, what="the bridge connected")
        assert bridge.network_alive()

        def broken(client, userdata, mid, reason_code, properties):
            raise RuntimeError("a callback bug")

        bridge.client.on_publish = broken
        bridge.publish("gateway/gw-alive/test", b"x")
        wait_for(lambda: not bridge.network_alive(), what="paho's thread to end")
    finally:
        bridge.stop()
        bridge.close()
