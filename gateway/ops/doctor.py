"""`gateway doctor`: checks that a technician can run on site, one line each, with what to do.

Each check returns a `Check`; none raises. The command exits 0 only when all pass.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import Config
from gateway.delivery.uplink import probe
from gateway.inference.model import AudioModel
from gateway.redaction import redact

# The gateway cannot have been built before this: a clock showing an earlier date is wrong.
BUILD_DATE = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
BROKER_TIMEOUT_S = 5.0


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_data_dir(config: Config) -> Check:
    data_dir = config.gateway.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe_file = data_dir / f".doctor-{uuid.uuid4().hex}"
        probe_file.write_bytes(b"ok")
        probe_file.unlink()
    except OSError as e:
        return Check("storage", False, f"cannot write in {data_dir}: {e.strerror}",
                     f"check the folder exists and belongs to the service user "
                     f"(sudo chown -R sensor-gateway: {data_dir})")
    free_mb = shutil.disk_usage(data_dir).free // (1024 * 1024)
    if free_mb < config.retention.min_free_mb:
        return Check("storage", False, f"{data_dir} writable but only {free_mb} MB free "
                     f"(retention.min_free_mb = {config.retention.min_free_mb})",
                     "free space on the disk or use a bigger SD card")
    return Check("storage", True, f"{data_dir} writable, {free_mb} MB free")


def check_broker(config: Config) -> Check:
    """Connect once with the gateway's settings, under a client id of its own (the gateway's
    id would take over the running daemon's session)."""
    cfg = config.mqtt
    answer: dict = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{config.client_id}-doctor",
                         protocol=mqtt.MQTTv5)

    def on_connect(client, userdata, flags, reason_code, properties):
        answer["reason"] = reason_code
        done.set()

    client.on_connect = on_connect
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password or None)
    if cfg.tls:
        client.tls_set(ca_certs=cfg.ca_file or None, certfile=cfg.cert_file or None,
                       keyfile=cfg.key_file or None)
    where = f"{cfg.host}:{cfg.port}"
    try:
        client.connect(cfg.host, cfg.port, keepalive=10)
    except OSError as e:
        return Check("broker", False, f"cannot reach {where}: {e.strerror or e}",
                     "check mosquitto runs (systemctl status mosquitto) and mqtt.host/port")
    client.loop_start()
    try:
        done.wait(BROKER_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()
    reason = answer.get("reason")
    if reason is None:
        return Check("broker", False, f"no answer from {where} in {BROKER_TIMEOUT_S:g} s",
                     "check mqtt.tls matches the broker's port, and the broker's log")
    if reason.is_failure:
        return Check("broker", False, f"{where} refused the gateway: {reason}",
                     "check mqtt.username and the mqtt-password credential")
    return Check("broker", True, f"connected to {where}" + (" with TLS" if cfg.tls else ""))


def check_model(config: Config, model_path) -> Check:
    path = model_path(config)
    try:
        started = time.perf_counter()
        model = AudioModel(path)
        noise = np.random.default_rng(0).normal(0, 0.05, 16_000).astype(np.float32)
        scored = model.score(noise, 16_000)
    except Exception as e:  # ModelError, or a broken runtime: say it, do not crash doctor
        return Check("model", False, str(e), "reinstall the gateway, or fix inference.model")
    ms = (time.perf_counter() - started) * 1000
    return Check("model", True, f"{model.name_version} loaded and ran once ({ms:.0f} ms, "
                 f"score {scored.score:.3g})")


def check_clock(now: datetime.datetime | None = None,
                ntp_state: Callable[[], str | None] | None = None) -> Check:
    now = now or datetime.datetime.now(datetime.UTC)
    if now < BUILD_DATE:
        return Check("clock", False, f"the clock says {now:%Y-%m-%d %H:%M} UTC, before this "
                     f"software was built", "set the time: enable NTP (timedatectl set-ntp "
                     "true) and check the network")
    synced = (ntp_state or _ntp_synchronized)()
    if synced == "no":
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC, but not NTP-synchronised",
                     "timedatectl set-ntp true; check the network reaches a time server")
    note = "NTP-synchronised" if synced == "yes" else "NTP state unknown (no timedatectl)"
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M} UTC, {note}")


def _ntp_synchronized() -> str | None:
    """"yes", "no", or None when timedatectl is not there or cannot answer."""
    if shutil.which("timedatectl") is None:
        return None
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value in ("yes", "no") else None


def check_uplink(config: Config) -> Check:
    try:
        ok, message = probe(config.sync, config.gateway.id)
    except Exception as e:
        return Check("uplink", False, f"probe failed: {redact(repr(e), config.sync.token)}",
                     "check sync.url")
    fix = "" if ok else "see docs/upstream.md; data is kept until the cloud accepts it"
    return Check("uplink", ok, message, fix)


def run_checks(config: Config, model_path) -> list[Check]:
    return [check_data_dir(config), check_broker(config), check_model(config, model_path),
            check_clock(), check_uplink(config)]


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        line = f"{'PASS' if check.ok else 'FAIL'}  {check.name:<8} {check.detail}"
        if not check.ok and check.fix:
            line += f"\n      -> {check.fix}"
        lines.append(line)
    return "\n".join(lines)
