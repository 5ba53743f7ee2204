from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest
import redis

from gateway.devtools.local_broker import LocalMosquitto, free_port
from tests.support import CommittedAnalyser, GatewayProcess, Publisher, wait_for, write_config

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _close_analysers():
    yield
    while CommittedAnalyser.open:
        CommittedAnalyser.open.pop().close()


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


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: run ./scripts/setup (installs Debian's package)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    wait_for(lambda: _pings(client), what="redis-server to answer")
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False
