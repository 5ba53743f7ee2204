"""A private Mosquitto for the demo, local trials and the test suite.

Production uses the system's Mosquitto (configured by the installer, see
docs/install.md); this starts one on a chosen loopback port with the same
settings that matter to the gateway: persistence, so queued QoS 1 messages
survive a broker restart, and an in-flight window above the intake's batch.
"""

from __future__ import annotations

import getpass
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# The settings the gateway relies on; the installer writes the same into
# /etc/mosquitto/conf.d/sensor-gateway.conf.
GATEWAY_BROKER_SETTINGS = """\
persistence true
autosave_interval 5
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 268435456
max_packet_size 16777216
memory_limit 402653184
persistent_client_expiration 30d
"""


class BrokerError(RuntimeError):
    """Mosquitto is missing or did not start."""


def _ephemeral_ports() -> range:
    try:
        low, high = (int(n) for n in
                     Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port free now, outside the kernel's ephemeral range: a listener that is
    stopped and started again on it (a broker restart, a daemon restart in a test) cannot
    find it taken by some client's outgoing connection meanwhile, as a port the kernel
    handed out with bind(0) can be."""
    ephemeral = _ephemeral_ports()
    candidates = [p for p in range(10000, 65536) if p not in ephemeral]
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # everything outside the range is taken: any free port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrokerError("mosquitto is not installed: sudo apt-get install mosquitto")


class LocalMosquitto:
    def __init__(self, workdir: Path, port: int | None = None, preexec_fn=None):
        self.workdir = workdir
        self.preexec_fn = preexec_fn
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "mosquitto.log"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"persistence_location {self.workdir}/\n"
            "log_dest stderr\n"
            # Started as root, mosquitto would switch to its own user, which cannot write
            # persistence into our directory.
            + (f"user {getpass.getuser()}\n" if os.geteuid() == 0 else "")
            + GATEWAY_BROKER_SETTINGS
        )
        return conf

    def start(self, timeout_s: float = 10.0) -> LocalMosquitto:
        conf = self.write_config()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"mosquitto exited at start; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its persistence file on the way out."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalMosquitto:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class InstalledMosquitto(LocalMosquitto):
    """Mosquitto as scripts/install set it up under ``root`` (an install with --root):
    the installed drop-in with its accounts, ACL and certificate, under a main config like
    Debian's (its own log in a file), on free ports: ``port`` is the gateway's loopback
    listener, ``tls_port`` the sensor boxes' TLS listener. Mosquitto's stdout and stderr (what
    the journal would show) go to ``log_path``."""

    def __init__(self, workdir: Path, root: Path):
        super().__init__(workdir)
        self.root = root
        self.tls_port = free_port()
        self.ca_file = root / "etc/mosquitto/certs/sensor-gateway/ca.crt"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        drop_in = (self.root / "etc/mosquitto/conf.d/sensor-gateway.conf").read_text()
        drop_in = (drop_in.replace(" /etc/mosquitto/", f" {self.root}/etc/mosquitto/")
                   .replace("\nlistener 1883 127.0.0.1\n", f"\nlistener {self.port} 127.0.0.1\n")
                   .replace("\nlistener 8883\n", f"\nlistener {self.tls_port} 127.0.0.1\n"))
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"persistence true\npersistence_location {self.workdir}/\n"
            f"log_dest file {self.workdir}/mosquitto-file.log\n"
            + (f"user {getpass.getuser()}\n" if os.geteuid() == 0 else "")
            + drop_in)
        return conf

    def reload(self) -> None:
        """What `systemctl reload mosquitto` does: SIGHUP, accounts and ACL read again."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
