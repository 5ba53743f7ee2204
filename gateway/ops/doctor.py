"""`gateway doctor`: checks that a technician can run on site, one line each, with what to do.

Each check returns a `Check`; none raises. The command exits 0 only when all pass.
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import Config
from gateway.delivery.uplink import probe
from gateway.inference.model import AudioModel
from gateway.redaction import redact
from gateway.service.clock import clock_problem
from gateway.service.runlock import running_pid
from gateway.service.wear import LIFE_WARN_YEARS, span_text
from gateway.sources import mic
from gateway.store.daemon_state import CardWear
from gateway.store.database import open_database
from gateway.store.read_model import last_receipt_ms, read_card_wear

BROKER_TIMEOUT_S = 5.0
UNIT = "sensor-gateway.service"
UNIT_DIRS = (Path("/etc/systemd/system"), Path("/lib/systemd/system"),
             Path("/usr/lib/systemd/system"))
TOKEN_FILE = "/etc/sensor-gateway/credentials/sync-token"
T = TypeVar("T")


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    fix: str = ""


class ServiceUser(NamedTuple):
    name: str
    uid: int
    gids: frozenset[int]


def service_user(unit_dirs=UNIT_DIRS) -> ServiceUser:
    """Who the daemon runs as: the unit's User= (asked of systemd, else read from the
    installed unit file), else whoever runs doctor. Doctor run with sudo must not judge the
    data dir as root."""
    name = _unit_user(unit_dirs)
    try:
        entry = pwd.getpwnam(name) if name else pwd.getpwuid(os.geteuid())
    except KeyError:
        entry = pwd.getpwuid(os.geteuid())
    gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem}
    return ServiceUser(entry.pw_name, entry.pw_uid, frozenset(gids))


def _unit_user(unit_dirs) -> str | None:
    if shutil.which("systemctl"):
        try:
            out = subprocess.run(["systemctl", "show", "-p", "User", "--value", UNIT],
                                 capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    for folder in unit_dirs:
        try:
            text = (Path(folder) / UNIT).read_text()
        except OSError:
            continue
        users = [line.split("=", 1)[1].strip() for line in text.splitlines()
                 if line.strip().startswith("User=")]
        return users[-1] if users else None
    return None


def may(user: ServiceUser, path: Path, bits: int) -> bool:
    """Would `user` be granted `bits` (an rwx triple as 4/2/1) on path by its mode bits?"""
    if user.uid == 0:
        return True
    st = path.stat()
    if st.st_uid == user.uid:
        shift = 6
    elif st.st_gid in user.gids:
        shift = 3
    else:
        shift = 0
    return (stat.S_IMODE(st.st_mode) >> shift) & bits == bits


def _unwritable(user: ServiceUser, data_dir: Path) -> str:
    """What keeps user from writing in data_dir (every folder above it must be searchable),
    "" when nothing does."""
    for folder in reversed(data_dir.parents):
        if not may(user, folder, 1):
            return f"{folder} cannot be entered by {user.name}"
    if not may(user, data_dir, 3):
        return f"{data_dir} is not writable by {user.name}"
    for name in ("gateway.db", "gateway.db-wal", "gateway.db-shm", "queue.db"):
        path = data_dir / name
        if path.exists() and not may(user, path, 6):
            return f"{path} is not writable by {user.name}"
    return ""


def check_data_dir(config: Config, user: ServiceUser | None = None) -> Check:
    """The data dir as the service user sees it; never creates or changes anything."""
    data_dir = config.gateway.data_dir
    user = user or service_user()
    fix = (f"sudo install -d -o {user.name} -g {user.name} -m 750 {data_dir} (the installer "
           f"does this), or sudo chown -R {user.name}: {data_dir}")
    try:
        if not data_dir.is_dir():
            return Check("storage", False, f"{data_dir} does not exist (or is not a folder)",
                         fix)
        problem = _unwritable(user, data_dir)
    except OSError as e:
        return Check("storage", False, f"cannot look at {data_dir}: {e.strerror}", fix)
    if problem:
        return Check("storage", False, problem, fix)
    free_mb = shutil.disk_usage(data_dir).free // (1024 * 1024)
    if free_mb < config.retention.min_free_mb:
        return Check("storage", False, f"{data_dir} writable but only {free_mb} MB free "
                     f"(retention.min_free_mb = {config.retention.min_free_mb})",
                     "free space on the disk or use a bigger SD card")
    return Check("storage", True, f"{data_dir} writable by {user.name}, {free_mb} MB free")


def check_mic(config: Config) -> Check | None:
    """The microphone, when enabled: PyAudio present and the device opens."""
    if not config.mic.enabled:
        return None
    m = config.mic
    try:
        capture = mic.open_pyaudio_capture(m.input_device, m.sample_rate, m.channels,
                                           frames_per_buffer=int(m.sample_rate * 0.1))
    except mic.CaptureError as e:
        return Check("mic", False, f"microphone enabled but unusable: {e}",
                     "the daemon runs without it; sudo ./scripts/install --mic, or set "
                     "mic.enabled = false")
    capture.close()
    return Check("mic", True, f"microphone opens ({m.sample_rate} Hz, {m.channels} ch)")


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
        return Check("model", False, f"{e} (the daemon runs without audio analysis; audio "
                     "windows wait)", "reinstall the gateway (64-bit OS), or fix inference.model")
    ms = (time.perf_counter() - started) * 1000
    return Check("model", True, f"{model.name_version} loaded and ran once ({ms:.0f} ms, "
                 f"score {scored.score:.3g})")


def check_clock(now: datetime.datetime | None = None,
                ntp_state: Callable[[], str | None] | None = None,
                last_receipt: int | None = None) -> Check:
    """Fails unless the clock is plausible (service/clock.py) and NTP says it is synced:
    a state doctor cannot read is not a pass."""
    now = now or datetime.datetime.now(datetime.UTC)
    fix = "set the time: enable NTP (timedatectl set-ntp true) and check the network"
    problem = clock_problem(int(now.timestamp() * 1000), last_receipt)
    if problem:
        return Check("clock", False, problem, fix)
    synced = (ntp_state or _ntp_synchronized)()
    if synced == "no":
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC, but not NTP-synchronised",
                     "timedatectl set-ntp true; check the network reaches a time server")
    if synced is None:
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC, NTP state unknown "
                     "(timedatectl cannot tell): the clock may be wrong",
                     "timedatectl status; enable NTP (timedatectl set-ntp true)")
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M} UTC, NTP-synchronised")


def _from_store(config: Config, read: Callable[[sqlite3.Connection], T]) -> T | None:
    """What `read` finds in the store; None when there is no store or it cannot be read."""
    if not config.store_path.exists():
        return None
    try:
        db = open_database(config.store_path, read_only=True)
    except Exception:
        return None
    try:
        return read(db.conn)
    except sqlite3.Error:
        return None
    finally:
        db.close()


def stored_last_receipt(config: Config) -> int | None:
    return _from_store(config, last_receipt_ms)


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
    if not config.sync.url:  # not a pass: nothing this gateway keeps ever reaches the cloud
        return Check("uplink", False, "sync.url is empty: nothing is uploaded (everything is "
                     "kept on this gateway)", "set sync.url and the token as docs/install.md "
                     "says; leave it empty only for a gateway meant to stay offline")
    if not config.sync.token:
        return Check("uplink", False, "no sync token", f"put the token in {TOKEN_FILE} "
                     "(docs/install.md, \"Putting the token in, or changing it\")")
    try:
        ok, message = probe(config.sync, config.gateway.id)
    except Exception as e:
        return Check("uplink", False, f"probe failed: {redact(repr(e), config.sync.token)}",
                     "check sync.url")
    fix = "" if ok else (f"check the token in {TOKEN_FILE} and sync.url (docs/install.md); "
                         "data is kept until the cloud accepts it")
    return Check("uplink", ok, message, fix)


def check_card(running: bool, wear: CardWear | None) -> Check:
    """The card life the daemon's own writes project (service/wear.py). Not measured is not
    a pass: the daemon measures them only while it runs."""
    if not running:
        return Check("card", False, "card life not checked: the daemon is not running (it "
                     "measures its own writes while it runs)",
                     "sudo systemctl start sensor-gateway, then run gateway doctor again")
    again = "run gateway doctor again in a minute"
    if not wear:
        return Check("card", False, "card life not checked yet: the daemon has not recorded "
                     "its writes yet", again)
    if wear["written_bytes"] is None:  # nothing to fix: this system does not tell
        return Check("card", False, f"card life {wear['note']}")
    if wear["bytes_per_day"] is None:
        return Check("card", False, f"card life not checked yet: {wear['note']}", again)
    rate = f"{wear['bytes_per_day'] / 1e9:.3g} GB written per day"
    if wear["warming_up"]:
        rate += f" (over the first {span_text(wear['measured_s'])} only; settles in a day)"
    years, card_bytes = wear["card_years"], wear["card_bytes"]
    if years is None or card_bytes is None:
        return Check("card", wear["card_bytes"] is not None, f"{rate}; {wear['note']}",
                     "set storage.card_gb to the card's size (docs/configuration.md)")
    card = (f"a {card_bytes / 1e9:.3g} GB card ({wear['card_size_from']}) enduring "
            f"{wear['endurance_writes']:,} full writes")
    if years < LIFE_WARN_YEARS:
        return Check("card", False, f"{rate}: {card} lasts {years:.2g} years, under "
                     f"{LIFE_WARN_YEARS:g}", "fit a bigger or high-endurance card and say "
                     "so in [storage]; docs/performance.md, \"Wear\", says where the bytes go")
    return Check("card", True, f"{rate}: {card} lasts {years:.1f} years")


def run_checks(config: Config, model_path) -> list[Check]:
    checks = [check_data_dir(config), check_broker(config), check_model(config, model_path),
              check_mic(config), check_clock(last_receipt=stored_last_receipt(config)),
              check_uplink(config),
              check_card(running_pid(config.gateway.data_dir) is not None,
                         _from_store(config, read_card_wear))]
    return [check for check in checks if check is not None]


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        line = f"{'PASS' if check.ok else 'FAIL'}  {check.name:<8} {check.detail}"
        if not check.ok and check.fix:
            line += f"\n      -> {check.fix}"
        lines.append(line)
    return "\n".join(lines)
