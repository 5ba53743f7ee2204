"""A Debian root booted by `systemd-nspawn -b` on a host without systemd, for
bench.systemd_check.

What it takes on such a host (no machined): the nspawn process gets cgroups of its own
first; `--register=no --keep-unit` so nspawn asks no host systemd for a scope;
`--private-network` so the container's ports (the broker's 1883, the metrics port) cannot
collide with the host's; `--system-call-filter=bpf` because nspawn's own seccomp filter
refuses bpf(), without which systemd silently skips the unit's DevicePolicy/DeviceAllow.
Commands run inside through `nsenter` into the container's PID 1 (`systemd-run -M` and
machinectl need a host systemd).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

CGROUPS = Path("/sys/fs/cgroup")
INSIDE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "LANG": "C.UTF-8", "HOME": "/root", "TERM": "dumb", "SYSTEMD_PAGER": "",
              "SYSTEMD_COLORS": "0"}


def own_cgroups(name: str) -> list[Path]:
    """A cgroup named `name` in each hierarchy systemd manages: the one of a unified (v2)
    host; on a hybrid or legacy (v1) host, systemd's named one and the unified one (the v1
    controllers are not delegated to a container anyway, and cpuset would refuse a process
    until its CPUs are set)."""
    if (CGROUPS / "cgroup.procs").exists():
        hierarchies = [CGROUPS]
    else:
        hierarchies = [CGROUPS / h for h in ("systemd", "unified")
                       if (CGROUPS / h / "cgroup.procs").exists()]
    groups = [h / name for h in hierarchies]
    for group in groups:
        group.mkdir(exist_ok=True)
    return groups


def remove_cgroups(groups: list[Path]) -> None:
    for group in groups:
        for sub in sorted((p for p in group.rglob("*") if p.is_dir()), reverse=True):
            sub.rmdir()
        if group.exists():
            group.rmdir()


class Container:
    """Boots `tree` on enter (waiting until systemd says the system runs), halts on exit."""

    def __init__(self, tree: Path, name: str, boot_timeout_s: float = 120):
        self.tree, self.name, self.boot_timeout_s = tree, name, boot_timeout_s
        self.log = tree.parent / "console.log"
        self.nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self.process: subprocess.Popen | None = None
        self.pid1 = 0
        self.boot_s = 0.0
        self.state = ""
        self._groups: list[Path] = []

    def __enter__(self) -> Container:
        started = time.monotonic()
        self._groups = own_cgroups(self.name)

        def into_own_cgroups():
            for group in self._groups:
                (group / "cgroup.procs").write_text(str(os.getpid()))

        with self.log.open("wb") as console:
            self.process = subprocess.Popen(
                ["systemd-nspawn", "-b", "-D", str(self.tree), "-M", self.name,
                 "--register=no", "--keep-unit", "--private-network",
                 "--system-call-filter=bpf"],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                preexec_fn=into_own_cgroups)
        try:
            self.pid1 = self._wait_pid1(started)
            self.state = self._wait_running(started)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.boot_s = time.monotonic() - started
        return self

    def _wait_pid1(self, started: float) -> int:
        while time.monotonic() - started < self.boot_timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.process.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-500:]}")
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    fields = dict(line.split(":\t", 1) for line in
                                  status.read_text().splitlines() if ":\t" in line)
                except OSError:
                    continue
                if fields.get("PPid") == str(self.process.pid) and \
                        fields.get("NSpid", "").split("\t")[-1] == "1":
                    return int(status.parent.name)
            time.sleep(0.2)
        raise TimeoutError("no init in the container")

    def _wait_running(self, started: float) -> str:
        left = max(5.0, self.boot_timeout_s - (time.monotonic() - started))
        while True:
            result = self.run("systemctl", "is-system-running", "--wait", timeout=left)
            state = result.stdout.strip()
            if state in ("running", "degraded"):
                return state
            if time.monotonic() - started > self.boot_timeout_s:
                raise TimeoutError(f"the container's systemd says {state!r}")
            time.sleep(0.5)  # dbus not up yet: systemctl cannot tell

    def run(self, *argv: str, timeout: float = 120, check: bool = False
            ) -> subprocess.CompletedProcess:
        return subprocess.run([self.nsenter, "-t", str(self.pid1), "-a", "--", *argv],
                              env=INSIDE_ENV, capture_output=True, text=True, timeout=timeout,
                              check=check, stdin=subprocess.DEVNULL)

    def systemd_version(self) -> str:
        return self.run("systemctl", "--version").stdout.split()[1]

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # nspawn: halt the container
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        remove_cgroups(self._groups)
