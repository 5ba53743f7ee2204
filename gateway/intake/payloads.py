"""Parsing and validation of inbound messages, exactly as docs/mqtt.md specifies.

`parse_message` turns one (topic, payload) into a record: a Window, a
Telemetry, or a Rejection carrying the reason. It never raises, so no bad
message can stop the intake.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import NamedTuple, TypeGuard

import numpy as np

from gateway.config import IntakeSection
from gateway.logs import kv
from gateway.records import (
    Record,
    Rejection,
    Telemetry,
    Window,
    content_digest,
    storable_text,
    telemetry_key,
)
from gateway.vibration_json import AXES, Axes, axis_pieces, split_axes
from gateway.wav import WavError, inspect_wav

log = logging.getLogger("gateway.payloads")
DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
EARLIEST_TS_MS = 946_684_800_000  # 2000-01-01: anything before is a box without a clock
MAX_CLOCK_AHEAD_MS = 24 * 3600 * 1000
# Beyond this a number cannot be epoch seconds at all (year ~33,000); its bound also keeps
# round() away from huge ints and floats that would overflow.
MAX_EPOCH_S = 1e12
# Time stamp flags (the ts_flag column, docs/mqtt.md): a message is never dropped over its
# time stamp; a doubtful one is kept with the receipt time beside it, and flagged.
TS_AHEAD, TS_BEFORE_2000, TS_UNUSABLE = "ahead", "before_2000", "unusable"
SEQ_LIMIT = 2**63  # a seq must fit SQLite's INTEGER
# |sample| bound of a vibration axis, in m/s² (about 100,000 g; shock accelerometers stop
# near 60,000 g): beyond it a value is a broken box, and its square overflows the features.
VIBRATION_MAX_ABS_MS2 = 1e6
STANDARD_GRAVITY = 9.80665
FLOAT_MAX_BITS = 1024  # an int of more bits overflows a 64-bit float
VIBRATION_UNITS = ("m/s2", "g")
MIN_VIBRATION_SAMPLES = 8
VIBRATION_RATE_HZ = (1.0, 200_000.0)
TELEMETRY_MAX_FIELDS = 256
TELEMETRY_MAX_DEPTH = 4
TELEMETRY_MAX_STRING = 256


class PayloadError(ValueError):
    """Why a message is not valid: a short machine `reason` and a human `detail`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class Inbound(NamedTuple):
    """One message as it came off the broker."""

    topic: str
    payload: bytes
    received_at_ms: int
    ts_property: str | None = None  # MQTT v5 user property "ts" (epoch ms), audio only
    seq_property: str | None = None  # MQTT v5 user property "seq", audio and vibration


def parse_message(msg: Inbound, topic_prefix: str, limits: IntakeSection) -> Record:
    """Validate one message; invalid ones come back as a Rejection, never as an exception."""
    try:
        device_id, stream = parse_topic(msg.topic, topic_prefix)
        _check_size(stream, len(msg.payload), limits)
        if stream == "audio":
            captured, flag = _audio_ts(msg.ts_property, msg.received_at_ms)
            seq = _seq_property(msg.seq_property)
            window = audio_window(device_id=device_id, topic=msg.topic, payload=msg.payload,
                                  captured_at_ms=captured, received_at_ms=msg.received_at_ms,
                                  source="mqtt", stamp=_stamp(msg.ts_property, seq))
            return window._replace(seq=seq, ts_flag=flag)
        if stream == "vibration":
            return vibration_window(device_id, msg)
        return telemetry_record(device_id, msg)
    except PayloadError as e:
        return rejection(msg, e.reason, e.detail, limits.rejected_sample_bytes)
    except Exception as e:  # a bug of ours must not stop the intake; keep the evidence
        log.exception("message validation crashed", extra=kv(topic=msg.topic))
        return rejection(msg, "internal_error", f"validation crashed: {e!r}"[:200],
                         limits.rejected_sample_bytes)


def rejection(msg: Inbound, reason: str, detail: str, sample_bytes: int) -> Rejection:
    digest = content_digest(msg.topic, msg.payload)
    # The detail quotes what the sender wrote (a JSON string may hold a lone surrogate).
    return Rejection(topic=storable_text(msg.topic), received_at_ms=msg.received_at_ms,
                     reason=reason, detail=storable_text(detail), payload_size=len(msg.payload),
                     sample=msg.payload[:sample_bytes], digest=digest)


def parse_topic(topic: str, prefix: str) -> tuple[str, str]:
    """`<prefix>/<device_id>/<stream>` → (device_id, stream)."""
    if not topic.startswith(prefix + "/"):
        raise PayloadError("bad_topic", f"topic {topic!r} is not under {prefix!r}")
    parts = topic[len(prefix) + 1:].split("/")
    if len(parts) != 2:
        raise PayloadError("bad_topic", f"topic {topic!r} is not <prefix>/<device_id>/<stream>")
    device_id, stream = parts
    if not DEVICE_ID.fullmatch(device_id):
        raise PayloadError("invalid_device_id",
                           f"device id {device_id[:80]!r} does not match [A-Za-z0-9_.-]{{1,64}}")
    if stream not in ("audio", "vibration", "telemetry"):
        raise PayloadError("unknown_stream",
                           f"stream {stream[:40]!r} is not audio, vibration or telemetry")
    return device_id, stream


def _check_size(stream: str, size: int, limits: IntakeSection) -> None:
    limit = getattr(limits, f"max_{stream}_bytes")
    if size > limit:
        raise PayloadError("oversize", f"{stream} payload of {size} bytes exceeds {limit} bytes")
    if size == 0:
        raise PayloadError("empty", f"{stream} payload is empty")


def _ts_flag(ts_ms: int, received_at_ms: int) -> str | None:
    """None for a plausible time stamp, else why it is doubtful. Either the box's clock or the
    gateway's may be the wrong one (a Pi boots at its last saved time until NTP syncs), so
    the message is kept with its own time and flagged, never refused."""
    if ts_ms < EARLIEST_TS_MS:
        return TS_BEFORE_2000
    if ts_ms > received_at_ms + MAX_CLOCK_AHEAD_MS:
        return TS_AHEAD
    return None


def _audio_ts(ts_property: str | None, received_at_ms: int) -> tuple[int, str | None]:
    """(capture time, flag) from the `ts` user property: ASCII digits only (int() would also
    take " 1 ", "1_0", "+1" and other scripts' digits)."""
    if ts_property is None:
        return received_at_ms, None
    if not (ts_property.isascii() and ts_property.isdigit()):
        raise PayloadError("bad_timestamp",
                           f"user property ts {ts_property[:40]!r} is not epoch milliseconds "
                           "(ASCII digits only)")
    if len(ts_property) > 15:  # beyond MAX_EPOCH_S: no epoch time at all
        return received_at_ms, TS_UNUSABLE
    ts_ms = int(ts_property)
    return ts_ms, _ts_flag(ts_ms, received_at_ms)


def _json_ts_ms(value: object, received_at_ms: int, key: str) -> tuple[int, str | None]:
    """(time, flag) from a JSON time stamp in epoch seconds; only a non-number is refused."""
    if value is None:
        return received_at_ms, None
    if not _is_number(value):
        raise PayloadError("bad_timestamp", f"{key} {repr(value)[:40]} is not epoch seconds")
    if type(value) is int and value.bit_length() > FLOAT_MAX_BITS:
        raise PayloadError("non_finite", f"{key} is too large for a float")
    if not abs(value) < MAX_EPOCH_S:  # also keeps round() from overflowing
        return received_at_ms, TS_UNUSABLE
    ts_ms = round(value * 1000)
    return ts_ms, _ts_flag(ts_ms, received_at_ms)


def _seq_value(value: object) -> int | None:
    """A sender's sequence number, or None when absent or not an unsigned integer: a bad seq
    only turns off gap counting for that message, it never costs the data."""
    if type(value) is int and 0 <= value < SEQ_LIMIT:
        return value
    return None


def _seq_property(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    return _seq_value(int(value))


def _stamp(ts_property: str | None, seq: int | None) -> str:
    """What tells two byte-identical windows apart: the sender's ts and seq properties."""
    stamp = ts_property or ""
    return stamp if seq is None else f"{stamp}|seq={seq}"


def audio_window(*, device_id: str, topic: str, payload: bytes, captured_at_ms: int,
                 received_at_ms: int, source: str, stamp: str = "") -> Window:
    """Validate a WAV payload and describe it as a window; raises PayloadError.

    `stamp` is the sender's own time stamp, if any: it tells two identical windows (a
    silent microphone) apart, where a broker redelivery carries the same stamp.
    """
    try:
        info = inspect_wav(payload)
    except WavError as e:
        raise PayloadError(e.code, e.detail) from None
    return Window(device_id=device_id, stream="audio", source=source, topic=topic,
                  captured_at_ms=captured_at_ms, received_at_ms=received_at_ms,
                  sample_rate=float(info.sample_rate), channels=info.channels,
                  frames=info.frames, duration_s=info.duration_s, encoding=info.encoding,
                  digest=content_digest(topic, payload, stamp), payload=payload)


def _reject_constant(name: str) -> None:
    raise PayloadError("non_finite", f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different: a reader keeping the first of two
    `device_id`s would see another box than the gateway checked."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise PayloadError("not_json", f"payload has the key {key[:40]!r} more than once")
            seen.add(key)
    return obj


# One decoder for every message: json.loads with an option builds a new decoder per call.
_JSON = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


def _load_json_object(payload: bytes) -> tuple[dict, str]:
    """The payload as a JSON object, and as text (strict UTF-8, as JSON on the wire must be)."""
    try:
        text = payload.decode("utf-8")
        value = _JSON.decode(text)
    except (ValueError, RecursionError) as e:
        if isinstance(e, PayloadError):
            raise
        raise PayloadError("not_json", f"payload is not JSON: {str(e)[:120]}") from None
    if not isinstance(value, dict):
        raise PayloadError("not_json", f"payload is JSON {type(value).__name__}, not an object")
    return value, text


def _is_number(value: object) -> TypeGuard[int | float]:
    return type(value) in (int, float)


def _axis(doc: dict, name: str) -> np.ndarray:
    values = doc.get(name)
    if not isinstance(values, list):
        raise PayloadError("bad_vibration", f"{name} must be an array of numbers")
    if not set(map(type, values)) <= {int, float}:
        raise PayloadError("bad_vibration", f"{name} holds something other than numbers")
    try:
        axis = np.asarray(values, dtype=np.float64)
    except OverflowError:
        raise PayloadError("non_finite", f"{name} holds a number too large for a float") from None
    if not np.isfinite(axis).all():
        raise PayloadError("non_finite", f"{name} holds a value that is not finite")
    return axis


class _AxisFigures(NamedTuple):
    """What the checks need of one axis: an axis's samples are dropped once it is summed up."""

    samples: int
    peak: float  # largest |sample|; 0 for an empty axis


def _figures(axis: np.ndarray) -> _AxisFigures:
    return _AxisFigures(axis.size, float(max(axis.max(), -axis.min())) if axis.size else 0.0)


def _plain_figures(payload: bytes, axes: Axes) -> dict[str, _AxisFigures] | None:
    """Each axis's figures read a piece at a time without json, or None when one holds a
    value that is not finite (json's reading then says which and why)."""
    figures = {}
    for name in AXES:
        samples, peak = 0, 0.0
        for piece in axis_pieces(payload, axes.spans[name]):
            if not np.isfinite(piece).all():
                return None
            samples, peak = samples + piece.size, max(peak, _figures(piece).peak)
        figures[name] = _AxisFigures(samples, peak)
    return figures


def _axis_figures(msg: Inbound, plain: Axes | None) -> dict[str, _AxisFigures]:
    figures = _plain_figures(msg.payload, plain) if plain else None
    if figures is None:
        doc, _ = _load_json_object(msg.payload)
        figures = {name: _figures(_axis(doc, name)) for name in AXES}
    return figures


def _check_magnitude(figures: dict[str, _AxisFigures], unit: str) -> None:
    bound = VIBRATION_MAX_ABS_MS2 / (STANDARD_GRAVITY if unit == "g" else 1.0)
    for name, axis in figures.items():
        if axis.peak > bound:
            raise PayloadError("out_of_range", f"{name} holds {axis.peak:.3g} {unit}; at most "
                               f"{bound:.6g} {unit} ({VIBRATION_MAX_ABS_MS2:g} m/s2)")


def vibration_window(device_id: str, msg: Inbound) -> Window:
    # The plain case (each axis an array of numbers) is read without Python lists: a 4 MiB
    # message's would take 17-67 MB. Anything else is read by json, whose reasons stand.
    plain = split_axes(msg.payload, _JSON)
    doc = plain.doc if plain else _load_json_object(msg.payload)[0]
    rate = doc.get("sample_rate")
    lo, hi = VIBRATION_RATE_HZ
    if not _is_number(rate) or not lo <= rate <= hi:
        raise PayloadError("bad_vibration", f"sample_rate {rate!r} is not a number in {lo:g}-"
                           f"{hi:g} Hz")
    unit = doc.get("unit", "m/s2")
    if unit not in VIBRATION_UNITS:
        raise PayloadError("bad_vibration", f"unit {unit!r} is not one of m/s2, g")
    figures = _axis_figures(msg, plain)
    lengths = {name: axis.samples for name, axis in figures.items()}
    if len(set(lengths.values())) != 1:
        raise PayloadError("unequal_arrays", "x, y, z lengths differ: " +
                           ", ".join(f"{k}={v}" for k, v in lengths.items()))
    frames = lengths["x"]
    if frames < MIN_VIBRATION_SAMPLES:
        raise PayloadError("bad_vibration", f"{frames} samples per axis; at least "
                           f"{MIN_VIBRATION_SAMPLES} needed")
    _check_magnitude(figures, unit)
    captured, flag = _json_ts_ms(doc.get("ts"), msg.received_at_ms, "ts")
    seq = _seq_property(msg.seq_property)
    return Window(device_id=device_id, stream="vibration", source="mqtt", topic=msg.topic,
                  captured_at_ms=captured, received_at_ms=msg.received_at_ms,
                  sample_rate=float(rate), channels=3, frames=frames,
                  duration_s=frames / rate, encoding="json",
                  digest=content_digest(msg.topic, msg.payload, _stamp(None, seq)),
                  payload=msg.payload, seq=seq, ts_flag=flag)


def _field_name(key: str) -> str:
    """A sender's field name as a rejection detail may quote it: one line, bounded."""
    return key[:80] if key.isprintable() else repr(key[:80])[1:-1]


def _check_telemetry_value(key: str, value: object, depth: int) -> None:
    if value is None or type(value) is bool:
        return
    if type(value) is int:
        if value.bit_length() > FLOAT_MAX_BITS:  # every consumer reads JSON numbers as floats
            raise PayloadError("non_finite", f"field {key} is too large for a float")
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise PayloadError("non_finite", f"field {key} is not finite")
        return
    if isinstance(value, str):
        if len(value) > TELEMETRY_MAX_STRING:
            raise PayloadError("bad_telemetry", f"field {key} is a string over "
                               f"{TELEMETRY_MAX_STRING} characters")
        return
    if isinstance(value, dict) and depth < TELEMETRY_MAX_DEPTH:
        for sub_key, sub_value in value.items():
            _check_telemetry_value(f"{key}.{_field_name(sub_key)}", sub_value, depth + 1)
        return
    if isinstance(value, list) and len(value) <= TELEMETRY_MAX_FIELDS:
        for i, item in enumerate(value):
            if isinstance(item, dict | list):
                raise PayloadError("bad_telemetry", f"field {key}[{i}] nests too deep")
            _check_telemetry_value(f"{key}[{i}]", item, depth + 1)
        return
    raise PayloadError("bad_telemetry", f"field {key} is not a number, string, flag or object "
                       f"(or nests deeper than {TELEMETRY_MAX_DEPTH})")


def telemetry_record(device_id: str, msg: Inbound) -> Telemetry:
    doc, text = _load_json_object(msg.payload)
    inner_id = doc.get("device_id", device_id)
    if inner_id != device_id:
        raise PayloadError("device_mismatch", f"device_id {str(inner_id)[:80]!r} in the payload "
                           f"differs from {device_id!r} in the topic")
    if len(doc) > TELEMETRY_MAX_FIELDS:
        raise PayloadError("bad_telemetry", f"{len(doc)} fields; at most {TELEMETRY_MAX_FIELDS}")
    ts_ms, flag = _json_ts_ms(doc.get("timestamp"), msg.received_at_ms, "timestamp")
    for key, value in doc.items():
        _check_telemetry_value(_field_name(key), value, 1)
    # The key's time part: the box's own time stamp, never the receipt time (a redelivery
    # is received later and must have the same key).
    stamp_ms = ts_ms if doc.get("timestamp") is not None and flag != TS_UNUSABLE else 0
    return Telemetry(device_id=device_id, topic=msg.topic, ts_ms=ts_ms,
                     received_at_ms=msg.received_at_ms,
                     digest=telemetry_key(stamp_ms, content_digest(msg.topic, msg.payload)),
                     data=text, seq=_seq_value(doc.get("seq")), ts_flag=flag)
