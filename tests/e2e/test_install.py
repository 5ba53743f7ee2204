"""scripts/install run into a temp dir with --root, never touching this machine.

How the machine stays untouched: every path the script writes is under --root; accounts
go to copies of passwd/group/shadow in the temp root (useradd --prefix); `apt-get` and
`systemctl` on PATH are stand-ins that log their calls, and the real systemctl is only
reached with --root (offline enable/disable inside the temp dir). Installing the real
dependencies would need the network and minutes, so pip gets a wheel of this checkout built
here (the package alone) and `--no-deps --no-index`.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from gateway import __version__
from gateway.config import load_config
from gateway.devtools.local_broker import free_port
from tests.support import write_config

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "scripts" / "install"
TOKEN = "tok-3f9a"
IS_ROOT = os.geteuid() == 0
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")


def build_wheel(dest: Path) -> Path:
    """A py3-none-any wheel of the gateway package with its console script, no build tools."""
    dist = f"sensor_gateway-{__version__}.dist-info"
    files = {str(p.relative_to(REPO)): p.read_bytes()
             for p in sorted((REPO / "gateway").rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts}
    files[f"{dist}/METADATA"] = (f"Metadata-Version: 2.1\nName: sensor-gateway\n"
                                 f"Version: {__version__}\nProvides-Extra: mic\n").encode()
    files[f"{dist}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n")
    files[f"{dist}/entry_points.txt"] = b"[console_scripts]\ngateway = gateway.cli:main\n"
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,", ""]).encode()
    wheel = dest / f"sensor_gateway-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


class Installer:
    """Runs scripts/install against one temp root, with logging stand-ins on PATH."""

    def __init__(self, workdir: Path, wheel: Path):
        self.root = workdir / "root"
        (self.root / "etc").mkdir(parents=True)
        if IS_ROOT:
            for name in ACCOUNT_FILES:
                shutil.copy2(Path("/etc") / name, self.root / "etc" / name)
        self.calls = workdir / "calls.log"
        self.bin = workdir / "bin"
        self.bin.mkdir()
        self._stand_in("apt-get", "exit 1")
        real = shutil.which("systemctl")
        self._stand_in("systemctl", f'case "$1" in --root=*) exec {real} "$@";; esac; exit 1'
                       if real else "exit 1")
        self.wheel = wheel
        self.token = workdir / "token"
        self.token.write_text(TOKEN + "\n")
        self.output = ""
        self.host_accounts: dict[str, bytes] = {}

    def _stand_in(self, name: str, then: str) -> None:
        script = self.bin / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {self.calls}\n{then}\n')
        script.chmod(0o755)

    def run(self, *args: str) -> str:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}"}
        result = subprocess.run(
            ["bash", str(INSTALL), "--root", str(self.root), "--package", str(self.wheel),
             "--pip-args", "--no-deps --no-index", *args],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def path(self, target: str) -> Path:
        return self.root / target.lstrip("/")

    def logged_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel) -> Installer:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("/usr/bin/python3 is missing (Debian package python3-venv)")
    installer = Installer(tmp_path_factory.mktemp("install"), wheel)
    installer.host_accounts = _host_accounts()
    installer.output = installer.run("--no-systemctl", "--id", "gw-test-1",
                                     "--token-file", str(installer.token))
    return installer


def _host_accounts() -> dict[str, bytes]:
    return {name: Path("/etc", name).read_bytes() for name in ("passwd", "group")}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_program_lands_in_its_venv(installed):
    venv = installed.path("/opt/sensor-gateway/venv")
    assert os.access(venv / "bin" / "gateway", os.X_OK)
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.metadata as m; print(m.version('sensor-gateway'))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert version == __version__
    command = installed.path("/usr/local/bin/gateway")
    assert os.access(command, os.X_OK)
    assert "exec /opt/sensor-gateway/venv/bin/gateway" in command.read_text()
    assert installed.path("/opt/sensor-gateway/docs/install.md").is_file()


def test_a_valid_config_with_the_given_id(installed):
    config = load_config(installed.path("/etc/sensor-gateway/config.toml"), environ={})
    assert config.gateway.id == "gw-test-1"
    assert str(config.gateway.data_dir) == "/var/lib/sensor-gateway"
    assert mode(installed.path("/etc/sensor-gateway/config.toml")) == 0o644


def test_the_token_is_a_root_only_credential(installed):
    creds = installed.path("/etc/sensor-gateway/credentials")
    assert mode(creds) == 0o700
    assert (creds / "sync-token").read_text().strip() == TOKEN
    assert mode(creds / "sync-token") == 0o600
    # the gateway's own broker account (docs/security.md), made by the installer
    assert mode(creds / "mqtt-password") == 0o600
    for name in ("sync-token", "mqtt-password"):
        link = installed.path(f"/etc/credstore/sensor-gateway.{name}")
        assert os.readlink(link) == f"/etc/sensor-gateway/credentials/{name}"
    assert mode(installed.path("/etc/credstore")) == 0o700


def test_unit_and_broker_settings_are_the_shipped_ones(installed):
    unit = installed.path("/etc/systemd/system/sensor-gateway.service")
    assert unit.read_bytes() == (REPO / "systemd" / "sensor-gateway.service").read_bytes()
    drop_in = installed.path("/etc/mosquitto/conf.d/sensor-gateway.conf")
    assert drop_in.read_bytes() == (REPO / "systemd" / "mosquitto-sensor-gateway.conf"
                                    ).read_bytes()


@pytest.mark.skipif(not IS_ROOT, reason="useradd --prefix and chown need root")
def test_the_service_user_exists_in_the_temp_root_only(installed):
    passwd = installed.path("/etc/passwd").read_text()
    line = re.search(r"^sensor-gateway:x:(\d+):(\d+):[^:]*:([^:]*):([^:\n]*)$", passwd, re.M)
    assert line and line.group(3, 4) == ("/var/lib/sensor-gateway", "/usr/sbin/nologin")
    audio = re.search(r"^audio:[^:]*:\d+:(.*)$", installed.path("/etc/group").read_text(), re.M)
    assert "sensor-gateway" in audio.group(1).split(",")
    data = installed.path("/var/lib/sensor-gateway")
    assert (data.stat().st_uid, mode(data)) == (int(line.group(1)), 0o750)


def test_the_hosts_accounts_are_untouched(installed):
    assert _host_accounts() == installed.host_accounts


def test_nothing_ran_apt_get_or_a_live_systemctl(installed):
    assert installed.logged_calls() == []
    assert "skipped with --no-systemctl: systemctl restart sensor-gateway.service" \
        in installed.output


def test_a_second_run_changes_nothing_and_keeps_edits(installed):
    config = installed.path("/etc/sensor-gateway/config.toml")
    config.write_text(config.read_text() + "# edited by the technician\n")
    before = _tree(installed.root)
    output = installed.run("--no-systemctl", "--id", "gw-other")
    assert _tree(installed.root) == before
    assert "--id gw-other not applied" in output
    assert "cloud token: kept" in output
    assert "unchanged: /etc/systemd/system/sensor-gateway.service" in output


def _tree(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Mode and content of everything but the venv (pip may rewrite its bookkeeping)."""
    tree = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if relative.startswith("opt/sensor-gateway/venv"):
            continue
        content = (os.readlink(path) if path.is_symlink()
                   else path.read_bytes() if path.is_file() else "")
        tree[relative] = (path.lstat().st_mode, content)
    return tree


def test_upgrade_uninstall_and_purge(tmp_path, wheel):
    installer = Installer(tmp_path, wheel)
    installer.run("--id", "gw-test-2")  # with the offline systemctl --root
    wants = installer.path("/etc/systemd/system/multi-user.target.wants/sensor-gateway.service")
    if shutil.which("systemctl"):
        assert os.readlink(wants) == "/etc/systemd/system/sensor-gateway.service"
    assert all("--root=" in call for call in installer.logged_calls())

    installer.token.write_text("new-token\n")
    output = installer.run("--upgrade", "--no-systemctl", "--token-file", str(installer.token))
    assert "Successfully installed sensor-gateway" in output  # reinstalled, same version
    assert load_config(installer.path("/etc/sensor-gateway/config.toml"), {}).gateway.id \
        == "gw-test-2"
    assert installer.path("/etc/sensor-gateway/credentials/sync-token").read_text() \
        == "new-token\n"

    installer.run("--uninstall", "--no-systemctl")
    for gone in ("/etc/systemd/system/sensor-gateway.service", "/opt/sensor-gateway",
                 "/usr/local/bin/gateway", "/etc/mosquitto/conf.d/sensor-gateway.conf",
                 "/etc/credstore/sensor-gateway.sync-token"):
        assert not os.path.lexists(installer.path(gone)), gone
    for kept in ("/etc/sensor-gateway/config.toml", "/etc/sensor-gateway/credentials/sync-token",
                 "/var/lib/sensor-gateway"):
        assert installer.path(kept).exists(), kept

    installer.run("--uninstall", "--purge", "--no-systemctl")
    assert not installer.path("/etc/sensor-gateway").exists()
    assert not installer.path("/var/lib/sensor-gateway").exists()
    if IS_ROOT:
        for name in ("passwd", "group"):
            assert "sensor-gateway:" not in installer.path(f"/etc/{name}").read_text(), name


def test_refuses_to_run_without_root_privileges_on_the_real_system():
    # As root, drop to nobody for this one run, on a copy nobody can read: the checkout may
    # sit in a folder other users cannot enter (/root, a 0700 home, mktemp -d).
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if IS_ROOT else []
    result = subprocess.run([*as_user, "bash", str(readable_copy_of_the_installer())],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "run as root" in result.stderr, result.stderr


def test_bad_arguments_are_refused_before_anything_happens(tmp_path):
    for args, message in ((["--id", "bad id"], "--id must be"),
                          # grep -x matched line by line: "gw" passed and the rest went into
                          # config.toml as invalid TOML (issue 12.10)
                          (["--id", "gw-1\nevil = 1"], "--id must be"),
                          (["--purge"], "--purge goes with --uninstall"),
                          (["--token-file", str(tmp_path / "missing")], "missing or empty"),
                          (["--frobnicate"], "unknown option")):
        result = subprocess.run(["bash", str(INSTALL), "--root", str(tmp_path), *args],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and message in result.stderr, args
    assert list(tmp_path.iterdir()) == []


def readable_copy_of_the_installer() -> Path:
    """scripts/install copied into a fresh world-readable folder under the system's temp dir
    (pytest's own tmp_path is 0700), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="sensor-gateway-install-"))
    atexit.register(shutil.rmtree, folder, True)
    folder.chmod(0o755)
    (folder / "scripts").mkdir(mode=0o755)
    copy = folder / "scripts" / "install"
    shutil.copy(INSTALL, copy)
    copy.chmod(0o755)
    return copy


def stand_in(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"#!/bin/sh\n{body}\n")
    (folder / name).chmod(0o755)


def test_refuses_a_32_bit_system_up_front_with_one_line(tmp_path):
    # Debian's architecture of a 32-bit Raspberry Pi OS; no machine here is one.
    stand_in(tmp_path / "bin", "dpkg",
             'if [ "$1" = --print-architecture ]; then echo armhf; else exit 1; fi')
    root = tmp_path / "root"
    root.mkdir()
    result = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--no-systemctl"],
                            env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "install: unsupported architecture 'armhf': sensor-gateway needs a 64-bit OS "
        "(arm64 or amd64), e.g. Raspberry Pi OS Lite 64-bit"], result.stderr
    assert result.stdout == "" and list(root.iterdir()) == []


def run_the_installers_doctor_step(tmp_path: Path, broker_port: int) -> subprocess.CompletedProcess:
    """scripts/install's last step as on a live system, with the real `gateway doctor` of
    this checkout on a real config, broker and data dir. The one stand-in is timedatectl:
    this machine has no systemd-timedated to say the clock is not NTP-synchronised yet."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (tmp_path / "data").mkdir(mode=0o750)  # made by the installer's earlier steps
    write_config(etc / "config.toml", gateway_id="gw-doctor", data_dir=tmp_path / "data",
                 port=broker_port)
    stand_in(tmp_path / "bin", "timedatectl", "echo no")
    script = ('source "$1"; ROOT="" NO_SYSTEMCTL="" VENV="$2" T_ETC="$3" T_CREDS="$3/creds"; '
              'run_doctor; echo "warnings=$WARNINGS"')
    return subprocess.run(
        ["bash", "-c", script, "install", str(INSTALL), str(Path(sys.executable).parents[1]),
         str(etc)],
        env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=120)


def test_an_unsynced_clock_alone_warns_and_does_not_fail_the_install(tmp_path, broker):
    result = run_the_installers_doctor_step(tmp_path, broker.port)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^FAIL\s+clock", result.stdout, re.M), result.stdout
    # and the card: no daemon runs here to measure its writes (issue 14), which warns too
    assert re.search(r"^FAIL\s+card\s+card life not checked", result.stdout, re.M)
    assert "warning: the service runs, but doctor failed on: clock uplink card" in result.stdout
    assert "warnings=clock uplink card\n" in result.stdout


def test_a_real_doctor_failure_still_fails_the_install(tmp_path):
    result = run_the_installers_doctor_step(tmp_path, free_port())  # no broker there
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gateway doctor found problems (above: broker)" in result.stderr


# --- scripts/setup ------------------------------------------------------------------------


def checkout_with_a_logging_venv(tmp_path: Path) -> Path:
    """A checkout with the real scripts/setup and pyproject.toml whose .venv/bin/python is a
    stand-in that logs how it is called: what setup decides, without pip's minutes."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup", checkout / "scripts" / "setup")
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    stand_in(checkout / ".venv" / "bin", "python", f'echo "$*" >> {tmp_path}/python.log')
    for tool in ("apt-get", "sudo"):  # the Debian packages are there on a test machine
        stand_in(tmp_path / "bin", tool, f'echo "{tool} $*" >> {tmp_path}/python.log; exit 1')
    return checkout


def test_setup_installs_what_each_command_needs_and_only_once(tmp_path):
    checkout = checkout_with_a_logging_venv(tmp_path)
    log = tmp_path / "python.log"

    def setup(*args: str) -> list[str]:
        log.write_text("")
        result = subprocess.run(
            ["bash", str(checkout / "scripts" / "setup"), *args], capture_output=True, text=True,
            env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return [line for line in log.read_text().splitlines() if line != "-c "]

    pip = "-m pip install -q --disable-pip-version-check -e"
    assert setup("--runtime") == [f"{pip} ."]  # the demo: the gateway alone
    assert setup("--runtime") == []
    assert setup() == [f"{pip} .[dev]"]  # the tests: the dev extras too
    assert setup() == [] and setup("--runtime") == []
    (checkout / "pyproject.toml").write_text((checkout / "pyproject.toml").read_text()
                                             + "\n# a new dependency, say\n")
    assert setup("--runtime") == [f"{pip} ."]
    assert setup() == [f"{pip} .[dev]"]
