"""Configuration: read once at start, validated into frozen, typed objects.

Every problem is reported as one `ConfigError` naming the file, the dotted key
and what is wrong. Secrets never live in the file: they come from a file
named in it, from the environment, or from systemd's `$CREDENTIALS_DIRECTORY`.
This is the only module that reads environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

DEFAULT_CONFIG_PATH = Path("/etc/sensor-gateway/config.toml")
ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TOPIC_PATTERN = re.compile(r"[^#+\x00]+")
LOG_LEVELS = ("debug", "info", "warning", "error")
QUEUE_URL_PATTERN = re.compile(r"rediss?://\S+")
BROKER_MESSAGE_LIMIT = 16 * 1024 * 1024  # max_packet_size in the installed Mosquitto drop-in


class ConfigError(Exception):
    """A configuration problem; str() is the one line shown to the technician."""

    def __init__(self, file: str | Path, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        # One line, whatever odd characters a key or value holds.
        super().__init__(f"{file}: {key}: {problem}".replace("\r", "\\r").replace("\n", "\\n"))


def _check(ok: bool, message: str) -> str | None:
    return None if ok else message


def _range(lo: float | None = None, hi: float | None = None):
    def check(value: Any) -> str | None:
        if value != value:  # NaN compares false with every bound
            return "must be a number, got nan"
        if lo is not None and value < lo:
            return f"must be at least {lo}, got {value!r}"
        if hi is not None and value > hi:
            return f"must be at most {hi}, got {value!r}"
        return None

    return check


def _matches(pattern: re.Pattern[str], what: str, empty_ok: bool = False):
    def check(value: str) -> str | None:
        if empty_ok and value == "":
            return None
        return _check(pattern.fullmatch(value) is not None, f"{what}, got {value!r}")

    return check


def _one_of(*choices: str):
    def check(value: str) -> str | None:
        return _check(value in choices, f"must be one of {', '.join(choices)}; got {value!r}")

    return check


def opt(default: Any = MISSING, check=None):
    """A config field: its default and an optional value check returning a problem or None."""
    meta = {"check": check}
    if default is MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class GatewaySection:
    id: str = opt(check=_matches(ID_PATTERN, "must match [A-Za-z0-9_.-]{1,64}"))
    data_dir: Path = opt(Path("/var/lib/sensor-gateway"))
    log_level: str = opt("info", _one_of(*LOG_LEVELS))
    stop_grace_s: float = opt(10.0, _range(0, 300))


@dataclass(frozen=True)
class MqttSection:
    host: str = opt("127.0.0.1", lambda v: None if v.strip() else "must not be empty")
    port: int = opt(1883, _range(1, 65535))
    topic_prefix: str = opt("sensors", _matches(TOPIC_PATTERN, "must be a topic without wildcards"))
    out_prefix: str = opt("", _matches(TOPIC_PATTERN, "must be a topic without wildcards", True))
    client_id: str = opt("")
    keepalive_s: int = opt(30, _range(5, 3600))
    session_expiry_s: int = opt(7 * 24 * 3600, _range(60, 0xFFFFFFFF))
    receive_maximum: int = opt(1000, _range(1, 65535))
    username: str = opt("")
    password_file: str = opt("")
    tls: bool = opt(False)
    ca_file: str = opt("")
    cert_file: str = opt("")
    key_file: str = opt("")
    # Filled from password_file / GATEWAY_MQTT_PASSWORD / $CREDENTIALS_DIRECTORY, never the file.
    password: str = field(default="", repr=False, metadata={"derived": True})


@dataclass(frozen=True)
class IntakeSection:
    max_batch: int = opt(500, _range(1, 10_000))
    max_delay_ms: float = opt(5.0, _range(0.0, 1000))
    # A batch of telemetry (and rejections) only waits for its PUBACK: a longer linger packs
    # more messages into each FULL commit, and each commit writes a few 4 KB pages to the card
    # whatever it holds (bench/wear_breakdown.py). A window arriving cuts the wait short, and
    # so does a batch holding `mqtt.receive_maximum` unacknowledged messages (the broker sends
    # no more until they are acknowledged). 1 s: ~half the bytes of 250 ms (round 7).
    telemetry_delay_ms: float = opt(1000.0, _range(0.0, 5000))
    queue_size: int = opt(1_000, _range(10, 1_000_000))
    queue_bytes: int = opt(2 * 1024 * 1024, _range(1024 * 1024, 1024 * 1024 * 1024))
    # At most what the broker passes on (max_packet_size, 16 MiB as installed): a larger
    # limit promised what could never arrive (issue 12.7).
    max_audio_bytes: int = opt(8 * 1024 * 1024, _range(1024, BROKER_MESSAGE_LIMIT))
    max_vibration_bytes: int = opt(4 * 1024 * 1024, _range(1024, BROKER_MESSAGE_LIMIT))
    max_telemetry_bytes: int = opt(64 * 1024, _range(256, 1024 * 1024))
    rejected_keep: int = opt(10_000, _range(10, 10_000_000))
    rejected_sample_bytes: int = opt(256, _range(0, 65536))


@dataclass(frozen=True)
class QueueSection:
    url: str = opt("", _matches(QUEUE_URL_PATTERN, "must be empty (SQLite in the data dir) or a "
                                                   "redis:// or rediss:// URL", True))
    workers: int = opt(1, _range(1, 16))
    sweep_interval_s: float = opt(60.0, _range(1, 3600))


@dataclass(frozen=True)
class InferenceSection:
    model: str = opt("")
    baseline_windows: int = opt(100, _range(10, 10_000))
    # The learning windows are spread over this many hours of the windows' own time (one
    # taken every baseline_hours / baseline_windows): a normal learned in the first minutes
    # holds one load, one speed, one set of neighbours running (docs/inference.md, round 6).
    # 0 takes every window as it comes.
    baseline_hours: float = opt(24.0, _range(0.0, 720.0))
    threshold_sigmas: float = opt(6.0, _range(1, 100))
    alert_after: int = opt(3, _range(1, 100))
    alert_window: int = opt(5, _range(1, 100))
    max_attempts: int = opt(5, _range(1, 100))
    retry_base_s: float = opt(2.0, _range(0.1, 3600))
    retry_max_s: float = opt(300.0, _range(1, 86400))
    time_limit_s: float = opt(30.0, _range(1, 3600))


@dataclass(frozen=True)
class SyncSection:
    url: str = opt("")
    token_file: str = opt("")
    interval_s: float = opt(30.0, _range(1, 86400))
    ca_file: str = opt("")
    batch_records: int = opt(1000, _range(1, 100_000))
    batch_bytes: int = opt(1_048_576, _range(1024, 16 * 1024 * 1024))
    connect_timeout_s: float = opt(5.0, _range(0.5, 120))
    read_timeout_s: float = opt(30.0, _range(1, 600))
    backoff_max_s: float = opt(300.0, _range(1, 86400))
    token: str = field(default="", repr=False, metadata={"derived": True})


@dataclass(frozen=True)
class RetentionSection:
    disk_budget_mb: int = opt(2048, _range(16, 10_000_000))
    min_free_mb: int = opt(200, _range(0, 1_000_000))
    raw_normal_days: float = opt(7.0, _range(0.01, 3650))
    raw_anomaly_days: float = opt(30.0, _range(0.01, 3650))
    synced_days: float = opt(30.0, _range(0.01, 3650))
    interval_s: float = opt(300.0, _range(10, 86400))
    # The broker's persistence file: on the same card, so counted in the disk budget.
    broker_store: str = opt("/var/lib/mosquitto/mosquitto.db")


@dataclass(frozen=True)
class MetricsSection:
    enabled: bool = opt(True)
    host: str = opt("127.0.0.1", lambda v: None if v.strip() else "must not be empty")
    port: int = opt(9310, _range(1, 65535))


@dataclass(frozen=True)
class MicSection:
    enabled: bool = opt(False)
    device_id: str = opt("gateway-mic", _matches(ID_PATTERN, "must match [A-Za-z0-9_.-]{1,64}"))
    input_device: str = opt("")
    sample_rate: int = opt(16_000, _range(8_000, 96_000))
    channels: int = opt(1, _range(1, 8))
    window_s: float = opt(1.0, _range(0.25, 60))


# ISO 10816-1 machine classes; inference/features.py ISO_CLASSES holds their zone bounds
ISO_CLASS_NAMES = ("I", "II", "III", "IV")


@dataclass(frozen=True)
class MachineSection:
    """One device's machine, `[machines.<device id>]`: optional, for condition monitoring
    (docs/inference.md, vibration features): its kinematics (0 means "not given") and its
    ISO 10816 class, which sets the velocity zones that alert whatever the baseline says."""

    shaft_hz: float = opt(0.0, lambda v: None if v == 0 or 1 <= v <= 500
                          else f"must be 0 (taken from the spectrum) or 1-500 Hz, got {v!r}")
    bearing_balls: int = opt(0, lambda v: None if v == 0 or 3 <= v <= 64
                             else f"must be 0 (no bearing given) or 3-64, got {v!r}")
    bearing_ball_mm: float = opt(0.0, _range(0, 500))
    bearing_pitch_mm: float = opt(0.0, _range(0, 5000))
    bearing_contact_deg: float = opt(0.0, _range(0, 60))
    iso_class: str = opt("I", _one_of(*ISO_CLASS_NAMES))

    @property
    def has_bearing(self) -> bool:
        return self.bearing_balls > 0


@dataclass(frozen=True)
class StorageSection:
    """The card the data dir lives on, for the projected card life (docs/performance.md,
    "Wear"): its size and how many full writes it endures."""

    card_gb: float = opt(0.0, _range(0, 100_000))  # 0: the data dir's file system size
    # An assumption: the pSLC/MLC "high endurance" class; a plain TLC card manages 500-1,000.
    card_endurance_writes: int = opt(3_000, _range(1, 1_000_000))
    # After analysis, the raw data of normal windows is kept for every Nth window of a
    # device only (1: all of it, what the cloud and the ML team need; docs/retention.md).
    keep_normal_raw_every: int = opt(1, _range(1, 1_000_000))


@dataclass(frozen=True)
class Config:
    path: Path
    gateway: GatewaySection
    mqtt: MqttSection
    intake: IntakeSection
    queue: QueueSection
    inference: InferenceSection
    sync: SyncSection
    retention: RetentionSection
    metrics: MetricsSection
    mic: MicSection
    storage: StorageSection
    machines: Mapping[str, MachineSection] = field(default_factory=dict)  # by device id

    @property
    def out_prefix(self) -> str:
        return self.mqtt.out_prefix or f"gateway/{self.gateway.id}"

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"sensor-gateway-{self.gateway.id}"

    @property
    def store_path(self) -> Path:
        return self.gateway.data_dir / "gateway.db"

    @property
    def queue_path(self) -> Path:
        """The SqliteHuey file, used when queue.url is empty."""
        return self.gateway.data_dir / "queue.db"


MACHINES = "machines"  # [machines.<device id>]: a table per device, not one section
SECTIONS = {
    "gateway": GatewaySection,
    "mqtt": MqttSection,
    "intake": IntakeSection,
    "queue": QueueSection,
    "inference": InferenceSection,
    "sync": SyncSection,
    "retention": RetentionSection,
    "metrics": MetricsSection,
    "mic": MicSection,
    "storage": StorageSection,
}
# section -> (secret attribute, environment variable, systemd credential name)
SECRETS = {
    "mqtt": ("password", "GATEWAY_MQTT_PASSWORD", "mqtt-password"),
    "sync": ("token", "GATEWAY_SYNC_TOKEN", "sync-token"),
}
SECRET_BLANKS = " \t\r\n"  # stripped around a secret; anything else in it is refused
INLINE_SECRETS = {
    "mqtt.password": "put it in a file named by mqtt.password_file or in GATEWAY_MQTT_PASSWORD",
    "sync.token": "put it in a file named by sync.token_file or in GATEWAY_SYNC_TOKEN",
}


SERVICE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def service_environ(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What systemd tells the service through its environment: the sd_notify socket and the
    watchdog interval (read here, so that no other module reads the environment)."""
    return {name: environ[name] for name in SERVICE_ENV if name in environ}


def resolve_config_path(given: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """-c FILE, else $GATEWAY_CONFIG, else the system-wide default."""
    if given:
        return Path(given)
    if environ.get("GATEWAY_CONFIG"):
        return Path(environ["GATEWAY_CONFIG"])
    return DEFAULT_CONFIG_PATH


def load_config(path: str | Path, environ: Mapping[str, str] = os.environ) -> Config:
    """Read and validate `path`; raise ConfigError on the first problem found."""
    path = Path(path)
    raw = _read_toml(path)
    for name in raw:
        if name not in SECTIONS and name != MACHINES:
            raise ConfigError(path, name, "unknown section (known: "
                              f"{', '.join([*SECTIONS, MACHINES])})")
    sections = {
        name: _build_section(path, name, cls, raw.get(name, {})) for name, cls in SECTIONS.items()
    }
    sections[MACHINES] = _machines(path, raw.get(MACHINES, {}))
    for name, (attr, env_name, credential) in SECRETS.items():
        sections[name] = _with_secret(path, name, sections[name], attr, env_name, credential,
                                      environ)
    config = Config(path=path, **sections)
    _check_cross_fields(config)
    return config


def _machines(path: Path, raw: Any) -> dict[str, MachineSection]:
    """`[machines.<device id>]` tables: one MachineSection per device."""
    if not isinstance(raw, dict):
        raise ConfigError(path, MACHINES, "must be tables ([machines.<device id>])")
    machines = {}
    for device, table in raw.items():
        name = f"{MACHINES}.{device}"
        if not ID_PATTERN.fullmatch(device):
            raise ConfigError(path, name, "the device id must match [A-Za-z0-9_.-]{1,64}")
        machine = _build_section(path, name, MachineSection, table)
        given = (machine.bearing_balls, machine.bearing_ball_mm, machine.bearing_pitch_mm)
        if any(given) and not all(given):
            raise ConfigError(path, f"{name}.bearing_balls", "a bearing needs bearing_balls, "
                              "bearing_ball_mm and bearing_pitch_mm together")
        if any(given) and machine.bearing_ball_mm >= machine.bearing_pitch_mm:
            raise ConfigError(path, f"{name}.bearing_ball_mm", "must be less than "
                              f"bearing_pitch_mm ({machine.bearing_pitch_mm:g}), got "
                              f"{machine.bearing_ball_mm:g}")
        machines[device] = machine
    return machines


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(path, "-", "file not found") from None
    except PermissionError:
        raise ConfigError(path, "-", "permission denied reading the file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, "-", f"not valid TOML: {e}") from None


def _build_section(path: Path, name: str, cls: type, raw: Any):
    if not isinstance(raw, dict):
        raise ConfigError(path, name, "must be a table ([" + name + "])")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not f.metadata.get("derived")}
    values = {}
    for key, value in raw.items():
        dotted = f"{name}.{key}"
        if dotted in INLINE_SECRETS:
            raise ConfigError(path, dotted, f"secrets are not allowed in the config file; "
                              f"{INLINE_SECRETS[dotted]}")
        if key not in known:
            raise ConfigError(path, dotted, f"unknown key (known: {', '.join(known)})")
        values[key] = _coerce(path, dotted, hints[key], value)
        problem = known[key].metadata["check"] and known[key].metadata["check"](values[key])
        if problem:
            raise ConfigError(path, dotted, problem)
    for key, f in known.items():
        if key not in values and f.default is MISSING:
            raise ConfigError(path, f"{name}.{key}", "required key is missing")
    return cls(**values)


def _coerce(path: Path, dotted: str, hint: Any, value: Any) -> Any:
    """Check a TOML value against the field's type; ints are accepted where floats are."""
    if isinstance(hint, types.UnionType):
        hint = next(t for t in hint.__args__ if t is not type(None))
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is Path:
        ok = isinstance(value, str) and value != ""
        value = Path(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        kind = {Path: "a non-empty path", int: "an integer", bool: "true or false",
                float: "a number"}.get(hint, "a string")
        raise ConfigError(path, dotted, f"must be {kind}, got {type(value).__name__} {value!r}")
    return value


def _with_secret(path, name, section, attr, env_name, credential_name, environ):
    """Fill a secret from its file, the environment, or systemd credentials, in that order."""
    secret_file = getattr(section, f"{attr}_file")
    creds = environ.get("CREDENTIALS_DIRECTORY")
    if secret_file:
        value = _read_secret(path, f"{name}.{attr}_file", secret_file)
    elif environ.get(env_name):
        value = _checked_secret(path, f"{name}.{attr} (${env_name})", "the variable",
                                environ[env_name])
    elif creds and (Path(creds) / credential_name).is_file():
        value = _read_secret(path, f"{name}.{attr} ($CREDENTIALS_DIRECTORY/{credential_name})",
                             Path(creds) / credential_name)
    else:
        return section
    return _replace(section, **{attr: value})


def _read_secret(path: Path, key: str, secret_file: str | Path) -> str:
    try:
        text = Path(secret_file).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(path, key, f"cannot read secret file {secret_file}: "
                                     f"{e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, key, f"secret file {secret_file} is not UTF-8 text") from None
    return _checked_secret(path, key, f"secret file {secret_file}", text)


def _checked_secret(path: Path, key: str, where: str, text: str) -> str:
    """One line of printable ASCII, surrounding blanks and line ends dropped. Anything else
    (a byte-order mark, a second line, a control character) would go into an HTTP header or
    an MQTT CONNECT, fail there, and the error's repr would carry the secret into the logs
    (issue 12.4). The problem names where the secret came from, never its value."""
    secret = text.strip(SECRET_BLANKS)
    if not secret:
        raise ConfigError(path, key, f"{where} is empty")
    if secret.startswith("\ufeff"):
        raise ConfigError(path, key, f"{where} starts with a byte-order mark: save it as plain "
                                     "ASCII text")
    if "\n" in secret or "\r" in secret:
        raise ConfigError(path, key, f"{where} holds more than one line: keep only the secret, "
                                     "on one line")
    bad = next((i for i, c in enumerate(secret) if not " " <= c <= "~"), None)
    if bad is not None:
        raise ConfigError(path, key, f"{where} holds a character that is not printable ASCII "
                                     f"(character {bad + 1} of the secret)")
    return secret


def _replace(section, **changes):
    values = {f.name: getattr(section, f.name) for f in fields(section)}
    values.update(changes)
    return type(section)(**values)


def _check_cross_fields(config: Config) -> None:
    path, mqtt = config.path, config.mqtt
    if mqtt.password and not mqtt.username:
        raise ConfigError(path, "mqtt.username", "a broker password is set but no username")
    for key in ("ca_file", "cert_file", "key_file"):
        value = getattr(mqtt, key)
        if value and not Path(value).is_file():
            raise ConfigError(path, f"mqtt.{key}", f"file not found: {value}")
    if (mqtt.cert_file or mqtt.key_file) and not (mqtt.cert_file and mqtt.key_file):
        raise ConfigError(path, "mqtt.cert_file", "cert_file and key_file must be given together")
    url = config.sync.url
    if url and not re.match(r"https?://[^/\s]+", url):
        raise ConfigError(path, "sync.url", f"must be an http:// or https:// URL, got {url!r}")
    for key, value in (("sync.ca_file", config.sync.ca_file),
                       ("inference.model", config.inference.model)):
        if value and not Path(value).is_file():
            raise ConfigError(path, key, f"file not found: {value}")
    inference = config.inference
    if inference.alert_after > inference.alert_window:
        raise ConfigError(path, "inference.alert_after",
                          f"must be at most inference.alert_window ({inference.alert_window}), "
                          f"got {inference.alert_after}")
