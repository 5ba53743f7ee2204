"""The unit under a real systemd: boot Debian bookworm in a container and install the way a
site does, then start, reload, watchdog, SIGKILL and stop the service.

Method: `debootstrap` a minimal bookworm with systemd, Python and Mosquitto once (cached in
~/.cache/sensor-gateway/systemd-check, or $XDG_CACHE_HOME); `scripts/wheelhouse` the
gateway's wheels (cached per pyproject.toml); per run, a copy of that root with this
checkout and the wheels in /root, booted by `systemd-nspawn -b` with no network (so the
install is also the offline install of docs/install.md); every command inside runs through
`nsenter` into the container's PID 1 (this host has no systemd, so no machinectl). Then
`scripts/install` as a technician runs it, and the checks below, each timed; a table at the
end; exit 1 if a check failed. The container and its copy are removed at the end.

Needs root, `debootstrap` and `systemd-container` (apt-get install), and the Debian mirror
and package registry for the first run; about 2 minutes (the watchdog check waits 30 s)
with the root and wheels cached. Not part of the test suite.

    sudo .venv/bin/python -m bench.systemd_check [--keep] [--mirror URL]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.nspawn import Container

REPO = Path(__file__).resolve().parent.parent
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,mosquitto,mosquitto-clients," \
           "ca-certificates"
UNIT = "sensor-gateway"
WATCHDOG_S = 30
TELEMETRY = '{"device_id": "box-1", "temperature": -18.2}'


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "sensor-gateway" / "systemd-check"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_root(cache: Path, mirror: str) -> Path:
    root = cache / "bookworm"
    if not (root / "usr" / "lib" / "systemd" / "systemd").exists():
        partial = cache / "bookworm.partial"
        shutil.rmtree(partial, ignore_errors=True)
        print(f"debootstrap: bookworm into {root} (once; about a minute)", flush=True)
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm",
                        str(partial), mirror], check=True, stdout=subprocess.DEVNULL)
        partial.rename(root)
    return root


def cached_wheels(cache: Path) -> Path:
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:12]
    wheels = cache / f"wheels-{os.uname().machine}-{digest}"
    if not wheels.is_dir():
        partial = cache / "wheels.partial"
        shutil.rmtree(partial, ignore_errors=True)
        print("wheelhouse: the gateway's wheels (once per pyproject.toml)", flush=True)
        made = subprocess.run([str(REPO / "scripts" / "wheelhouse"), str(partial)],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"scripts/wheelhouse failed: {made.stderr[-1000:]}")
        partial.rename(wheels)
    return wheels


def prepare(root: Path, wheels: Path, run_dir: Path) -> Path:
    tree = run_dir / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(root), str(tree)], check=True)
    checkout = tree / "root" / "sensor-gateway"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            (checkout / source.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / source.relative_to(REPO))
    shutil.copytree(wheels, tree / "root" / "wheels")
    return tree


class Checks:
    """The checks, in order; each returns (ok, detail) and is timed."""

    def __init__(self, box: Container):
        self.box = box
        self.rows: list[tuple[str, bool, str, float]] = []

    def run(self, name: str, check) -> bool:
        started = time.monotonic()
        try:
            ok, detail = check()
        except Exception as e:  # a check that breaks is a failed check, the rest still run
            ok, detail = False, f"{type(e).__name__}: {e}"
        self.rows.append((name, ok, detail, time.monotonic() - started))
        print(f"  {name:<20} {'PASS' if ok else 'FAIL'}  {detail}", flush=True)
        return ok

    def show(self, key: str) -> str:
        return self.box.run("systemctl", "show", "-p", key, "--value", UNIT).stdout.strip()

    def main_pid(self) -> int:
        return int(self.show("MainPID") or 0)

    def journal(self) -> str:
        return self.box.run("journalctl", "-u", UNIT, "--no-pager", "-o", "cat").stdout

    def wait_restarted(self, old_pid: int, timeout_s: float) -> tuple[bool, float]:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            pid = self.main_pid()
            if pid not in (0, old_pid) and self.show("ActiveState") == "active":
                return True, time.monotonic() - started
            time.sleep(0.5)
        return False, time.monotonic() - started

    # --- the checks --------------------------------------------------------------------

    def install(self):
        result = self.box.run("bash", "/root/sensor-gateway/scripts/install", "--id", "gw-nspawn",
                              "--pip-args", "--no-index --find-links /root/wheels", timeout=900)
        done = [line for line in result.stdout.splitlines() if line.startswith("==> done")]
        warned = [line.strip() for line in result.stdout.splitlines() if "warning:" in line]
        detail = (done[-1][4:] if done else result.stderr.strip()[-200:])
        warned = [line.split(" (see above")[0] for line in warned]
        return result.returncode == 0 and bool(done), \
            f"exit {result.returncode}: {detail}" + (f" [{warned[0]}]" if warned else "")

    def started(self):
        state = (self.show("ActiveState"), self.show("SubState"))
        return state == ("active", "running"), \
            f"{'/'.join(state)}, status \"{self.show('StatusText')[:60]}\""

    def takes_data(self):
        self.box.run("mosquitto_pub", "-h", "127.0.0.1", "-q", "1", "-t",
                     "sensors/box-1/telemetry", "-m", TELEMETRY, check=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = self.box.run("gateway", "status").stdout
            if "box-1" in status:
                return True, "telemetry from box-1 stored (gateway status)"
            time.sleep(0.5)
        return False, "box-1 not in gateway status after 15 s"

    def memory_limits(self):
        high, limit = self.show("MemoryHigh"), self.show("MemoryMax")
        enforced = self.box.run("sh", "-c", f"cat /sys/fs/cgroup/system.slice/{UNIT}.service/"
                                "memory.max 2>/dev/null").stdout.strip()
        where = (f"enforced: memory.max={enforced}" if enforced else
                 "not enforceable here: the host's cgroups are v1/hybrid and give the "
                 "container no memory controller")
        return (high, limit) == ("268435456", "402653184"), \
            f"MemoryHigh={high} MemoryMax={limit}; {where}"

    def reload(self):
        pid, before = self.main_pid(), self.journal().count("configuration reloaded")
        result = self.box.run("systemctl", "reload", UNIT)
        deadline = time.monotonic() + 10
        while self.journal().count("configuration reloaded") == before:
            if time.monotonic() > deadline:
                tail = " / ".join(self.journal().splitlines()[-3:])
                return False, f"systemctl reload exit {result.returncode}, nothing logged: {tail}"
            time.sleep(0.2)
        same = self.main_pid() == pid and self.show("ActiveState") == "active"
        return result.returncode == 0 and same, \
            f"systemctl reload exit {result.returncode}; 'configuration reloaded', same PID"

    def reload_refused(self):
        config = "/etc/sensor-gateway/config.toml"
        pid = self.main_pid()
        self.box.run("cp", config, f"{config}.good", check=True)
        try:
            self.box.run("sh", "-c", f"echo '[mqtt' >> {config}", check=True)
            result = self.box.run("systemctl", "reload", UNIT)
        finally:
            self.box.run("mv", f"{config}.good", config, check=True)
        told = f"config error: {config}:" in self.journal()
        same = self.main_pid() == pid and self.show("ActiveState") == "active"
        return result.returncode != 0 and told and same, \
            f"systemctl reload exit {result.returncode}, check-config's line in the journal, " \
            f"{'still running, same PID' if same else 'NOT running on'}"

    def watchdog_restart(self):
        pid, restarts = self.main_pid(), int(self.show("NRestarts"))
        self.box.run("sh", "-c", f"kill -STOP {pid}", check=True)  # a hung daemon: no pings
        ok, took = self.wait_restarted(pid, WATCHDOG_S + 30)
        seen = "Watchdog timeout" in self.box.run("journalctl", "--no-pager", "-o", "cat",
                                                   "-u", UNIT).stdout
        return ok and seen and int(self.show("NRestarts")) == restarts + 1, \
            f"hung (SIGSTOP): 'Watchdog timeout', running again after {took:.0f} s"

    def sigkill_restart(self):
        pid, restarts = self.main_pid(), int(self.show("NRestarts"))
        self.box.run("sh", "-c", f"kill -KILL {pid}", check=True)
        ok, took = self.wait_restarted(pid, 30)
        return ok and int(self.show("NRestarts")) == restarts + 1, \
            f"running again after {took:.1f} s (RestartSec=5)"

    def still_has_data(self):
        status = self.box.run("gateway", "status").stdout
        return "box-1" in status, "box-1's record still in the store after the restarts"

    def clean_stop(self):
        started = time.monotonic()
        result = self.box.run("systemctl", "stop", UNIT)
        took = time.monotonic() - started
        outcome = (self.show("ActiveState"), self.show("Result"), self.show("ExecMainStatus"))
        said = "gateway stopped" in self.journal()
        return result.returncode == 0 and outcome == ("inactive", "success", "0") and said, \
            f"{took:.1f} s, {'/'.join(outcome)} (state/result/exit), " \
            f"{'' if said else 'no '}'gateway stopped' logged"
    def sandbox(self):
        result = self.box.run("systemd-analyze", "security", "--no-pager", UNIT)
        line = next((x for x in result.stdout.splitlines() if "Overall exposure" in x), "")
        level = line.split(":", 1)[1].strip() if line else result.stderr.strip()[-100:]
        return bool(line), f"systemd-analyze security: {level}"

    def bad_config_no_loop(self):
        config = "/etc/sensor-gateway/config.toml"
        self.box.run("cp", config, f"{config}.good", check=True)
        try:
            self.box.run("sh", "-c", f"echo 'not toml [' >> {config}", check=True)
            self.box.run("systemctl", "start", UNIT)  # a manual start zeroes NRestarts
            time.sleep(8)  # RestartSec=5 and more: a restart would have come by now
            outcome = (self.show("ActiveState"), self.show("ExecMainStatus"))
            again = int(self.show("NRestarts"))
        finally:
            self.box.run("mv", f"{config}.good", config, check=True)
        return outcome == ("failed", "2") and again == 0, \
            f"{'/'.join(outcome)} (state/exit), {again} restarts"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the container's copy")
    parser.add_argument("--mirror", default="http://deb.debian.org/debian")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("systemd-nspawn") or not shutil.which("debootstrap"):
        print("systemd_check: needs root, systemd-nspawn and debootstrap "
              "(apt-get install systemd-container debootstrap)", file=sys.stderr)
        return 2
    cache = cache_dir()
    root, wheels = cached_root(cache, args.mirror), cached_wheels(cache)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    started = time.monotonic()
    checks = None
    try:
        with Container(prepare(root, wheels, run_dir), f"sgcheck{os.getpid()}") as box:
            checks = Checks(box)
            print(f"systemd check — bookworm, systemd {box.systemd_version()}, booted in "
                  f"{box.boot_s:.1f} s", flush=True)
            steps = [("install (offline)", checks.install), ("started", checks.started),
                     ("takes data", checks.takes_data), ("memory limits", checks.memory_limits),
                     ("reload", checks.reload), ("reload refused", checks.reload_refused),
                     ("watchdog restart", checks.watchdog_restart),
                     ("SIGKILL restart", checks.sigkill_restart),
                     ("data kept", checks.still_has_data), ("sandbox", checks.sandbox),
                     ("clean stop", checks.clean_stop),
                     ("bad config", checks.bad_config_no_loop)]
            for name, check in steps:
                if not checks.run(name, check) and name in ("install (offline)", "started"):
                    break
    finally:
        if args.keep:
            print(f"kept: {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    rows = checks.rows if checks else []
    print("\n| check | result | detail | s |\n| --- | --- | --- | --- |")
    for name, ok, detail, took in rows:
        print(f"| {name} | {'PASS' if ok else 'FAIL'} | {detail} | {took:.1f} |")
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0 if rows and all(ok for _, ok, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
