"""docs/mqtt.md's "Trying it" examples, run as written against the gateway `scripts/try`
starts (its config, a real Mosquitto, the real `gateway run`), and their outcomes checked:
stored, a result published for each audio and vibration window, the invalid one rejected."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
import urllib.request
from pathlib import Path

import pytest

from gateway.devtools.local_broker import free_port
from tests.support import REPO, GatewayProcess, Publisher, Subscriber, status_json, wait_for

MQTT_MD = REPO / "docs" / "mqtt.md"
RESULT_TIMEOUT_S = 30.0


def _try_local():
    """scripts/try_local.py (not a package): what `scripts/try` runs and prints."""
    spec = importlib.util.spec_from_file_location("try_local", REPO / "scripts" / "try_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section() -> str:
    text = MQTT_MD.read_text()
    return text[text.index("## Trying it with `mosquitto_pub`"):]


def _commands() -> list[str]:
    """Every command line of the section's ```sh blocks, in order (`PORT=` set by the test)."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", _section(), flags=re.S):
        lines += [line for line in block.splitlines()
                  if line.strip() and not line.startswith("PORT=")]
    return lines


def _console() -> tuple[str, list[str]]:
    """The `gateway status` command shown and the lines of its output (no `...`)."""
    block = re.search(r"```console\n\$ (.*?)\n(.*?)```", _section(), flags=re.S)
    return block.group(1), [ln for ln in block.group(2).splitlines() if ln != "..."]


def _published(lines: list[str]) -> list[tuple[str, dict]]:
    """`mosquitto_sub -v` output: one `topic payload` per line."""
    found = []
    for line in lines:
        topic, _, payload = line.partition(" ")
        found.append((topic, json.loads(payload)))
    return found


def test_the_examples_use_what_scripts_try_prints(tmp_path):
    try_local = _try_local()
    config = try_local.write_config(41883, tmp_path)
    port = free_port()
    printed = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, 'scripts'); import try_local; "
         f"try_local.explain({port}, __import__('pathlib').Path({str(config)!r}))"],
        capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert f"mosquitto_pub -p {port} -q 1" in printed
    assert f"PORT={port}" in printed and "docs/mqtt.md" in printed
    assert f"mosquitto_sub -p {port} -v -t 'gateway/{try_local.GATEWAY_ID}/#'" in printed
    assert "mosquitto_sub -p \"$PORT\" -v -t 'gateway/gw-local/#'" in _section()
    assert f'id = "{try_local.GATEWAY_ID}"' in config.read_text()
    for line in _commands():
        if line.startswith(("mosquitto_pub", "mosquitto_sub")):
            assert '-p "$PORT"' in line, line
            assert "-q 1" in line or line.startswith("mosquitto_sub"), line
    assert f"gateway/{try_local.GATEWAY_ID}/#" in _section()
    shown, _ = _console()
    assert shown == ".venv/bin/gateway status -c local/config.toml"
    assert "gateway status -c" in printed  # scripts/try names the same command


@pytest.fixture
def try_gateway(tmp_path, broker):
    """The gateway as scripts/try configures it, on the test's broker."""
    config = _try_local().write_config(broker.port, tmp_path)
    # A metrics port of its own: the suite may run several daemons at once.
    config.write_text(config.read_text() + f"\n[metrics]\nport = {free_port()}\n")
    process = GatewayProcess(config, tmp_path / "gateway.log").start()
    yield config
    process.ensure_stopped()


class Watcher:
    """The page's `mosquitto_sub` line as a process; its output lines collected by a thread."""

    def __init__(self, line: str, cwd: Path, env: dict):
        self.lines: list[str] = []
        self.process = subprocess.Popen(["bash", "-c", line], stdout=subprocess.PIPE,
                                        text=True, cwd=cwd, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def published(self) -> list[tuple[str, dict]]:
        return _published(list(self.lines))

    def wait_topic(self, topic: str) -> None:
        wait_for(lambda: any(t == topic for t, _ in self.published()), timeout_s=10,
                 what=f"{topic} through mosquitto_sub")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def test_each_example_leads_to_what_the_page_says(tmp_path, broker, try_gateway):
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PORT": str(broker.port)}
    watcher = None
    try:
        for line in _commands():
            if line.startswith("mosquitto_sub"):
                watcher = Watcher(line, work, env)
                watcher.wait_topic("gateway/gw-local/status")
                continue
            done = subprocess.run(["bash", "-c", line], capture_output=True, text=True,
                                  cwd=work, env=env, timeout=30)
            assert done.returncode == 0, f"{line}\n{done.stderr}"
        assert watcher, "the page shows no mosquitto_sub to watch the results"
        expected = {("box-1", "audio"), ("box-2", "audio"), ("box-1", "vibration")}

        def results() -> dict:
            return {(doc["device_id"], doc["stream"]): (topic, doc)
                    for topic, doc in watcher.published() if topic.endswith("/result")}

        wait_for(lambda: expected <= set(results()), timeout_s=RESULT_TIMEOUT_S,
                 what=f"results for {expected}")
        got = results()
    finally:
        if watcher:
            watcher.stop()
    for (device, _), (topic, doc) in got.items():
        assert topic == f"gateway/gw-local/{device}/result"
        assert doc["details"]["state"] == "learning", doc  # a new box: its normal is learned
    assert got[("box-2", "audio")][1]["ts"] == 1732350000123  # the user property is used
    assert got[("box-1", "vibration")][1]["details"]["iso_zone"] in {"A", "B", "C", "D"}
    wanted = {"audio": 2, "vibration": 1, "telemetry": 1}
    # The rejected 'hello' is committed with the telemetry batch after it lingers, so it may
    # show a moment after the messages before it: wait for both, then check exact figures.
    def counted() -> bool:
        status = status_json(try_gateway)  # one `gateway status` per look
        return status["received"] == wanted and status["rejected"] >= 1

    wait_for(counted, timeout_s=10, what=f"received {wanted} and the rejection")
    status = status_json(try_gateway)
    assert status["received"] == wanted
    assert status["rejected_by_reason"] == {"not_json": 1}
    assert status["dead_letters"] == 0
    wait_for(lambda: status_json(try_gateway)["pending_inference"] == 0, timeout_s=10,
             what="the analysis queue empty")
    _check_console(try_gateway)
    _check_loops(try_gateway)


def _check_loops(config: Path) -> None:
    """The loops the running daemon serves are those docs/metrics.md lists (its uplink
    loop runs only with sync on, and scripts/try's config has no cloud)."""
    port = tomllib.loads(config.read_text())["metrics"]["port"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        served = set(re.findall(r'^sensor_gateway_loop_silence_seconds\{loop="(\w+)"\}',
                                answer.read().decode(), flags=re.M))
    row = re.search(r"^\| `sensor_gateway_loop_silence_seconds` \|[^|]*\|[^(]*\(([^)]*)\)",
                    (REPO / "docs" / "metrics.md").read_text(), flags=re.M).group(1)
    assert served == set(re.findall(r"`(\w+)`", row)) - {"uplink"}


def _unclocked(line: str) -> str:
    """The status line without what changes from run to run: the pid and the uptime."""
    return re.sub(r"up \w+", "up T", re.sub(r"pid \d+", "pid N", line))


def _check_console(config: Path) -> None:
    """The page's `gateway status` block against the real command's output: every line
    shown (but `...`) is there, the pid and uptime of the first one aside."""
    shown, lines = _console()
    argv = shlex.split(shown)
    assert argv[-2:] == ["-c", "local/config.toml"]
    out = subprocess.run([sys.executable, "-m", "gateway", *argv[1:-1], str(config)],
                         capture_output=True, text=True, cwd=REPO, timeout=30)
    assert out.returncode == 0, out.stderr
    first, *rest = lines
    assert _unclocked(out.stdout.splitlines()[0]) == _unclocked(first), out.stdout
    for line in rest:
        assert line in out.stdout.splitlines(), (line, out.stdout)


def test_the_json_blocks_are_analysed_too(tmp_path, broker, try_gateway):
    """The vibration payload shown under Payloads is one the gateway analyses."""
    text = MQTT_MD.read_text()
    section = text.split("### `vibration`")[1].split("###")[0]
    payload = re.search(r"```json\n(.*?)```", section, flags=re.S).group(1)
    watcher = Subscriber(broker.port, "gateway/gw-local/#")
    publisher = Publisher(broker.port)
    try:
        # Subscribed once the retained status arrives: results are not retained.
        wait_for(lambda: watcher.json_payloads("gateway/gw-local/status"), timeout_s=10,
                 what="the retained status")
        publisher.publish_all([("sensors/box-3/vibration", payload)])
        result = wait_for(lambda: watcher.json_payloads("gateway/gw-local/box-3/result"),
                          timeout_s=RESULT_TIMEOUT_S, what="a result for the vibration block")
    finally:
        publisher.close()
        watcher.close()
    assert result[0]["stream"] == "vibration"
    assert status_json(try_gateway)["dead_letters"] == 0
