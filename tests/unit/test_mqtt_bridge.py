"""The gateway's broker connection on a real Mosquitto: socket options that decide latency."""

from __future__ import annotations

import socket

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
