"""`gateway run` refusing to start: each failure is one clear line and an exit code."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib

from gateway.daemon import STATE_EVERY_S
from tests.support import REPO, GatewayProcess, store_rows, wait_for


def _run(config_path, timeout_s: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "run", "-c", str(config_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout_s)


def test_a_bad_config_is_refused_with_one_line_and_exit_2(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[gateway]\nid = "gw 1"\n')
    result = _run(config)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(config) in lines[0] and "gateway.id" in lines[0]


def test_an_unknown_key_is_refused_naming_the_dotted_key(tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text('[gateway]\nid = "gw-1"\n[mqtt]\nprot = 1883\n')
    result = _run(config)
    assert result.returncode == 2 and "mqtt.prot" in result.stderr


def test_a_second_daemon_on_the_same_data_dir_is_refused(gateway, gateway_config):
    result = _run(gateway_config)
    assert result.returncode == 1
    assert "another gateway daemon" in result.stderr
    assert gateway.alive()


def test_a_part_that_cannot_start_stops_what_started_before_it_in_reverse(tmp_path,
                                                                         gateway_config):
    """The metrics server starts after every stage but the sources; with its port taken it
    cannot, and everything started before it is stopped, last started first."""
    port = tomllib.loads(gateway_config.read_text())["metrics"]["port"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = _run(gateway_config)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [  # one line, no traceback
        next(line for line in result.stderr.splitlines() if line.startswith("error: "))]
    assert "cannot serve metrics" in result.stderr
    log = result.stdout
    started = re.findall(r"msg=\"part started\" part=(\"[^\"]*\"|\S+)", log)
    stopped = re.findall(r"msg=\"part stopped\" part=(\"[^\"]*\"|\S+)", log)
    assert "intake writer" in started[-1] and "run lock" in started[0]
    assert stopped == started[::-1]
    assert "start failed" in log and "MetricsError" in log
    assert "gateway stopped" in log.rstrip().splitlines()[-1]
    # Nothing was left behind (the run lock was released): the next start goes through.
    again = GatewayProcess(gateway_config, tmp_path / "again.log").start()
    again.ensure_stopped()


def test_the_daemon_starts_again_after_sigkill(tmp_path, gateway, gateway_config):
    gateway.kill()
    again = GatewayProcess(gateway_config, tmp_path / "again.log").start()
    try:
        assert again.alive()
    finally:
        again.ensure_stopped()


def test_the_running_daemon_imports_no_developer_tooling(tmp_path, gateway_config):
    """`gateway run` as systemd starts it, its imports traced by Python itself."""
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "gateway", "run", "-c",
             str(gateway_config)], stdout=out, stderr=subprocess.PIPE, cwd=REPO)
    try:
        wait_for(lambda: "msg=subscribed" in log.read_text(), timeout_s=20,
                 what="the daemon subscribed")
    finally:
        process.terminate()
        _, imports = process.communicate(timeout=20)
    modules = {line.rsplit("|", 1)[-1].strip() for line in imports.decode().splitlines()
               if line.startswith("import time:")}
    assert "gateway.daemon" in modules and "gateway.mqtt_bridge" in modules
    assert not {m for m in modules if m.startswith("gateway.devtools")}


def test_an_idle_daemon_commits_nothing_to_its_store(tmp_path, gateway, gateway_config):
    """Wear (issue 14): once started, an idle daemon leaves gateway.db alone for two of its
    state periods; it used to rewrite its unchanged state row every 10 s."""
    data_dir = tmp_path / "data"
    wait_for(lambda: store_rows(data_dir, "SELECT 1 FROM meta WHERE key = 'daemon'"),
             timeout_s=15, what="the daemon's first state row")
    time.sleep(2 * STATE_EVERY_S)  # whatever the start set going (the first sweep, ...)
    watcher = sqlite3.connect(data_dir / "gateway.db")
    try:
        before = watcher.execute("PRAGMA data_version").fetchone()[0]
        time.sleep(2 * STATE_EVERY_S + 1)
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == before
    finally:
        watcher.close()
    assert gateway.alive()
