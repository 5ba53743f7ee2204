from __future__ import annotations

import itertools

import pytest

from gateway.local_broker import LocalMosquitto
from tests.support import GatewayProcess, Publisher, write_config

_ids = itertools.count(1)


@pytest.fixture
def broker(tmp_path):
    """A real Mosquitto on a free loopback port, with the gateway's broker settings."""
    mosquitto = LocalMosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def gateway_config(tmp_path, broker):
    """A config for one gateway talking to the test broker, with its own data dir."""
    return write_config(tmp_path / "config.toml", gateway_id=f"gw-test-{next(_ids)}",
                        data_dir=tmp_path / "data", port=broker.port)


@pytest.fixture
def gateway(tmp_path, gateway_config):
    """The real `gateway run` process, started and subscribed."""
    process = GatewayProcess(gateway_config, tmp_path / "gateway.log")
    yield process.start()
    process.ensure_stopped()


@pytest.fixture
def publisher(broker):
    pub = Publisher(broker.port)
    yield pub
    pub.close()
