"""The systemd unit and the Mosquitto drop-in, checked by systemd-analyze and mosquitto.

`systemd-analyze verify` insists that ExecStart's program exists, and
/opt/sensor-gateway/venv/bin/gateway only exists once installed. So the unit is verified as a
copy in a temp dir whose ExecStart program is rewritten to an executable that exists here;
the test checks that nothing else in the copy differs.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gateway.cli import EXIT_CONFIG
from gateway.config import SECRETS, GatewaySection
from gateway.devtools.local_broker import GATEWAY_BROKER_SETTINGS, free_port, mosquitto_binary

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "sensor-gateway.service"
MOSQUITTO_DROP_IN = REPO / "systemd" / "mosquitto-sensor-gateway.conf"
MOSQUITTO_ACL = REPO / "systemd" / "mosquitto-sensor-gateway.acl"
EXEC_START = "/opt/sensor-gateway/venv/bin/gateway"
MAX_EXPOSURE = 2.5


def systemd_analyze() -> str:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return binary


def unit_settings() -> dict[str, list[str]]:
    """"Section.Key" -> values in order; systemd allows a key more than once."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def one(key: str) -> str:
    values = unit_settings().get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


@pytest.fixture
def verifiable_unit(tmp_path) -> Path:
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(f"ExecStart={EXEC_START} ",
                                             f"ExecStart={shutil.which('true')} "))
    changed = [(a, b) for a, b in zip(UNIT.read_text().splitlines(),
                                      copy.read_text().splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("ExecStart="), changed
    return copy


def test_unit_verifies_clean(verifiable_unit):
    result = subprocess.run([systemd_analyze(), "verify", str(verifiable_unit)],
                            capture_output=True, text=True, timeout=60)
    # verify exits 0 even for an unknown key; its warnings are the signal.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_security_exposure_is_low(verifiable_unit):
    result = subprocess.run([systemd_analyze(), "security", "--offline=true",
                             str(verifiable_unit)], capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_service_basics():
    assert one("Service.Type") == "notify"
    assert one("Service.NotifyAccess") == "main"
    assert one("Service.ExecStart") == f"{EXEC_START} run -c /etc/sensor-gateway/config.toml"
    assert one("Service.WatchdogSec") == "30"
    assert one("Service.Restart") == "on-failure"
    assert one("Service.RestartSec") == "5"
    assert one("Service.RestartPreventExitStatus") == str(EXIT_CONFIG)
    assert one("Service.KillSignal") == "SIGTERM"
    assert int(one("Unit.StartLimitBurst")) > 1 and int(one("Unit.StartLimitIntervalSec")) > 0
    assert one("Install.WantedBy") == "multi-user.target"


def test_stop_timeout_leaves_room_for_the_graceful_stop():
    grace = GatewaySection.__dataclass_fields__["stop_grace_s"].default
    assert int(one("Service.TimeoutStopSec")) >= grace + 30


def test_runs_as_its_own_user_with_the_microphone_group_and_state_dir():
    assert one("Service.User") == one("Service.Group") == "sensor-gateway"
    assert "DynamicUser" not in unit_settings()
    assert one("Service.SupplementaryGroups") == "audio"
    assert one("Service.StateDirectory") == "sensor-gateway"
    assert one("Service.DeviceAllow") == "char-alsa rw"


def test_broker_and_network_come_first():
    for key in ("Unit.After", "Unit.Wants"):
        assert {"mosquitto.service", "network-online.target"} <= set(one(key).split())


def test_both_secrets_are_loaded_as_the_credentials_config_reads():
    ids = {value.split(":", 1)[0] for value in unit_settings()["Service.LoadCredential"]}
    assert ids == {credential for _, _, credential in SECRETS.values()}
    for value in unit_settings()["Service.LoadCredential"]:
        # A name, not an absolute path: systemd skips a missing name in /etc/credstore but
        # refuses to start the service for a missing absolute path.
        assert not value.split(":", 1)[1].startswith("/"), value



def reload_command(gateway) -> list[str]:
    """ExecReload as systemd runs it for this test's daemon: $$ unescaped, the installed
    program and config file replaced by this checkout's and the test's."""
    command = (one("Service.ExecReload").replace("$$", "$")
               .replace(EXEC_START, str(Path(sys.executable).with_name("gateway")))
               .replace("/etc/sensor-gateway/config.toml", str(gateway.config_path)))
    return shlex.split(command)


def test_reload_is_the_sighup_the_daemon_handles(gateway):
    """`systemctl reload` runs ExecReload with $MAINPID set; without it systemd says "Job
    type reload is not applicable". The real daemon takes that signal as a reload."""
    argv = reload_command(gateway)
    # An essential package's program: /bin/kill (procps) is missing on a minimal Debian.
    assert argv[0] == "/bin/sh", argv
    subprocess.run(argv, check=True, timeout=30,
                   env={**os.environ, "MAINPID": str(gateway.process.pid)})
    gateway.wait_log("configuration reloaded", timeout_s=15)
    assert gateway.alive()


def test_a_reload_with_a_broken_config_fails_and_leaves_the_daemon_alone(gateway):
    gateway.config_path.write_text(gateway.config_path.read_text() + "\n[mqtt\n")
    result = subprocess.run(reload_command(gateway), capture_output=True, text=True, timeout=30,
                            env={**os.environ, "MAINPID": str(gateway.process.pid)})
    assert result.returncode == EXIT_CONFIG, result.stdout + result.stderr
    assert str(gateway.config_path) in result.stdout + result.stderr
    time.sleep(1)
    assert gateway.alive()
    assert "msg=\"reload refused" not in gateway.log_text()  # never signalled
    assert "msg=\"configuration reloaded" not in gateway.log_text()


def _bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def test_memory_is_capped_for_a_1_gb_pi():
    """MemoryHigh well above the daemon's 100 MB goal (room for a big message being
    analysed and its page cache), MemoryMax below what a 1 GB Pi can spare next to the OS
    and Mosquitto's 256 MiB of queued messages."""
    rss_goal = 100 << 20
    high, limit = _bytes(one("Service.MemoryHigh")), _bytes(one("Service.MemoryMax"))
    assert 2 * rss_goal <= high < limit <= 512 << 20, (high, limit)


# --- Mosquitto ------------------------------------------------------------------------------


def active_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()
            and not line.lstrip().startswith("#")]


def test_drop_in_carries_the_broker_settings_the_tests_run_with():
    lines = active_lines(MOSQUITTO_DROP_IN.read_text())
    for setting in GATEWAY_BROKER_SETTINGS.splitlines():
        assert setting in lines, setting
    assert "listener 1883 127.0.0.1" in lines


def test_mosquitto_starts_with_the_drop_in_and_refuses_anonymous_clients(tmp_path):
    """Debian's mosquitto.conf including our drop-in (on free ports, its files in tmp_path:
    empty password files, the shipped ACL, a throw-away certificate) starts, and refuses an
    anonymous client on the loopback listener. tests/e2e/test_broker_security.py runs the
    installer's real accounts through it."""
    port, tls_port = free_port(), free_port()
    files = tmp_path / "etc-mosquitto"
    (files / "certs" / "sensor-gateway").mkdir(parents=True)
    for name in ("sensor-gateway.passwd", "sensor-gateway-local.passwd"):
        (files / name).write_text("")
    (files / "sensor-gateway.acl").write_text(MOSQUITTO_ACL.read_text())
    certs = files / "certs" / "sensor-gateway"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", str(certs / "server.key"), "-out", str(certs / "server.crt")],
                   check=True, capture_output=True)
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "sensor-gateway.conf").write_text(
        MOSQUITTO_DROP_IN.read_text().replace(" /etc/mosquitto/", f" {files}/")
        .replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
        .replace("\nlistener 8883\n", f"\nlistener {tls_port} 127.0.0.1\n"))
    main = tmp_path / "mosquitto.conf"
    main.write_text(textwrap.dedent(f"""\
        persistence true
        persistence_location {tmp_path}/
        include_dir {conf_d}
        user {getpass.getuser()}
        """))
    broker = subprocess.Popen([mosquitto_binary(), "-c", str(main)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert _mqtt_connack_code(port, broker) == 5, broker.stdout  # 5: not authorised
    finally:
        broker.terminate()
        broker.wait(10)


def _mqtt_connack_code(port: int, broker: subprocess.Popen) -> int | None:
    """Send a bare MQTT 3.1.1 CONNECT and read CONNACK's return code (0 = accepted)."""
    connect = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and broker.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(connect)
                answer = s.recv(4)
                return answer[3] if answer[:3] == bytes([0x20, 2, 0]) else None
        except OSError:
            time.sleep(0.05)
    return None


# --- MemoryDenyWriteExecute=yes -------------------------------------------------------------

# prctl(PR_SET_MDWE = 65, PR_MDWE_REFUSE_EXEC_GAIN = 1): from here on, no W+X memory.
TURN_ON_MDWE = "import ctypes, sys\nif ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) != 0: sys.exit(3)\n"
MDWE_CHILD = TURN_ON_MDWE + """
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit(4)  # W+X memory was handed out: the check below would prove nothing
except OSError:
    pass
import numpy as np
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1], num_threads=2)
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
interpreter.set_tensor(inp["index"], np.ones((1, 64), np.float32))
interpreter.invoke()
expected = np.ones((1, 64), np.float32) @ np.load(sys.argv[2]).T
assert np.allclose(interpreter.get_tensor(out["index"]), expected, rtol=1e-4)
print("ok")
"""


def test_model_runtime_runs_with_write_execute_memory_refused(tmp_path):
    """The unit sets MemoryDenyWriteExecute=yes. The kernel's own W^X switch (PR_SET_MDWE,
    Linux 6.3+) refuses the same mappings, so LiteRT with its XNNPACK delegate and numpy run
    a model under it here."""
    pytest.importorskip("ai_edge_litert.interpreter")
    tfl = pytest.importorskip("ai_edge_litert.schema_py_generated")
    flatbuffers = pytest.importorskip("flatbuffers")
    if not _kernel_has_mdwe():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+) to refuse W+X memory with")
    weights = np.random.default_rng(1).random((16, 64), dtype=np.float32)
    model = tmp_path / "dense.tflite"
    model.write_bytes(_dense_model(weights, tfl, flatbuffers))
    np.save(tmp_path / "weights.npy", weights)
    result = subprocess.run([sys.executable, "-c", MDWE_CHILD, str(model),
                             str(tmp_path / "weights.npy")],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def _kernel_has_mdwe() -> bool:
    """Ask in a child, since the switch cannot be turned off again."""
    return subprocess.run([sys.executable, "-c", TURN_ON_MDWE], timeout=30).returncode == 0


def _dense_model(weights, tfl, flatbuffers) -> bytes:
    """A one-layer float model, FULLY_CONNECTED (64 -> 16), written with LiteRT's schema
    module `tfl` (LiteRT is only installed on x86_64 and aarch64)."""

    def buffer(array=None):
        b = tfl.BufferT()
        if array is not None:
            b.data = np.frombuffer(array.tobytes(), np.uint8).tolist()
        return b

    def tensor(shape, name, index):
        t = tfl.TensorT()
        t.shape, t.type, t.buffer, t.name = shape, tfl.TensorType.FLOAT32, index, name
        return t

    graph = tfl.SubGraphT()
    graph.tensors = [tensor([1, 64], "in", 1), tensor([16, 64], "w", 2),
                     tensor([16], "b", 3), tensor([1, 16], "out", 4)]
    graph.inputs, graph.outputs = [0], [3]
    op = tfl.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = tfl.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = tfl.FullyConnectedOptionsT()
    graph.operators = [op]
    code = tfl.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = tfl.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    model = tfl.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [buffer(), buffer(), buffer(weights), buffer(np.zeros(16, np.float32)),
                     buffer()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
