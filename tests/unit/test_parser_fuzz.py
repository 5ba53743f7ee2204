"""Property tests of the intake parsers (issue 12, "How it must be shown"): whatever arrives,
`parse_message` (every stream) and `inspect_wav` never raise; every accepted message is within
the limits docs/mqtt.md documents; every rejection's detail and topic can be stored (encodes as
UTF-8, goes into a real IntakeStore)."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import IntakeSection
from gateway.intake.payloads import (
    DEVICE_ID,
    EARLIEST_TS_MS,
    MAX_CLOCK_AHEAD_MS,
    MIN_VIBRATION_SAMPLES,
    SEQ_LIMIT,
    STANDARD_GRAVITY,
    TELEMETRY_MAX_FIELDS,
    VIBRATION_MAX_ABS_MS2,
    VIBRATION_RATE_HZ,
    Inbound,
    parse_message,
)
from gateway.records import Rejection, Telemetry, Window
from gateway.store.database import IntakeStore
from gateway.wav import WavError, encode_wav, inspect_wav

RX = 1_732_350_005_000
LIMITS = IntakeSection(max_audio_bytes=64 * 1024, max_vibration_bytes=16 * 1024,
                       max_telemetry_bytes=4 * 1024)
REASONS = {"bad_topic", "invalid_device_id", "unknown_stream", "empty", "oversize",
           "bad_timestamp", "not_wav", "truncated_wav", "unsupported_encoding", "out_of_range",
           "non_finite", "not_json", "bad_vibration", "unequal_arrays", "bad_telemetry",
           "device_mismatch"}  # internal_error is a bug of ours: never expected
TS_FLAGS = {None, "ahead", "before_2000", "unusable"}
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
device = st.one_of(st.from_regex(DEVICE_ID, fullmatch=True), any_text)
numbers = st.one_of(st.integers(), st.integers(min_value=-10**400, max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True))
json_scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(any_text, inner, max_size=5)), max_leaves=20)
props = st.one_of(st.none(), any_text, st.integers(min_value=-10, max_value=10**30).map(str))


def _dumps(value) -> str:
    try:
        return json.dumps(value, allow_nan=True)
    except (ValueError, UnicodeError):
        return "{}"


def _with_duplicate(text: str, key: str) -> str:
    return text[:-1] + (", " if len(text) > 2 else "") + json.dumps(key) + ": 1}" \
        if text.endswith("}") else text


@st.composite
def telemetry_payloads(draw) -> bytes:
    doc = draw(st.dictionaries(any_text, json_values, max_size=8))
    for key in ("timestamp", "device_id", "seq"):
        if draw(st.booleans()):
            doc[key] = draw(st.one_of(json_values, st.just("box-1")))
    text = _dumps(doc)
    if draw(st.booleans()) and doc:
        text = _with_duplicate(text, next(iter(doc)))
    return draw(st.one_of(st.just(text.encode("utf-8", "surrogatepass")), st.binary(max_size=64)))


@st.composite
def vibration_payloads(draw) -> bytes:
    n = draw(st.integers(min_value=0, max_value=24))
    values = draw(st.sampled_from([
        st.floats(allow_nan=False, allow_infinity=False),  # finite, often huge
        st.floats(min_value=-2e6, max_value=2e6),  # around the magnitude bound
        st.one_of(st.floats(), st.integers(min_value=-10**400, max_value=10**400))]))
    axis = st.lists(values, min_size=n, max_size=n)
    doc = {"sample_rate": draw(st.one_of(st.integers(1, 200_000), numbers, any_text)),
           "x": draw(axis), "y": draw(axis), "z": draw(st.one_of(axis, json_values))}
    if draw(st.booleans()):
        doc["unit"] = draw(st.sampled_from(["m/s2", "g", "G", ""]))
    if draw(st.booleans()):
        doc["ts"] = draw(json_values)
    return _dumps(doc).encode("utf-8", "surrogatepass")


@st.composite
def wav_payloads(draw) -> bytes:
    rate = draw(st.sampled_from([4000, 8000, 16000, 96000, 200000]))
    frames = draw(st.integers(min_value=0, max_value=rate // 2 if rate <= 16000 else 30000))
    channels = draw(st.integers(min_value=1, max_value=3))
    encoding = draw(st.sampled_from(["pcm16", "pcm24", "pcm32", "float32"]))
    samples = np.full((frames, channels), draw(st.floats(-1, 1)), np.float32)
    payload = bytearray(encode_wav(samples, min(rate, 96000), encoding))
    struct.pack_into("<I", payload, 24, rate)  # a rate outside the bounds, sometimes
    for _ in range(draw(st.integers(min_value=0, max_value=4))):  # damage the header
        payload[draw(st.integers(min_value=0, max_value=min(60, len(payload) - 1)))] = \
            draw(st.integers(min_value=0, max_value=255))
    cut = draw(st.integers(min_value=0, max_value=len(payload)))
    return bytes(payload[:cut] if draw(st.booleans()) else payload)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    intake = IntakeStore(tmp_path_factory.mktemp("fuzz") / "gateway.db")
    yield intake
    intake.close()


def _check_common(record) -> None:
    assert isinstance(record, Window | Telemetry | Rejection)
    if isinstance(record, Rejection):
        assert record.reason in REASONS, (record.reason, record.detail)
        record.detail.encode("utf-8")
        record.topic.encode("utf-8")
        assert "\n" not in record.detail
        return
    assert record.ts_flag in TS_FLAGS
    assert record.seq is None or 0 <= record.seq < SEQ_LIMIT
    ts = record.captured_at_ms if isinstance(record, Window) else record.ts_ms
    if record.ts_flag is None:
        assert EARLIEST_TS_MS <= ts <= RX + MAX_CLOCK_AHEAD_MS
    assert -2**63 <= ts < 2**63


def _check_vibration(record: Window) -> None:
    doc = json.loads(record.payload)
    lo, hi = VIBRATION_RATE_HZ
    assert lo <= doc["sample_rate"] <= hi and record.frames >= MIN_VIBRATION_SAMPLES
    bound = VIBRATION_MAX_ABS_MS2 / (STANDARD_GRAVITY if doc.get("unit") == "g" else 1.0)
    for name in "xyz":
        assert len(doc[name]) == record.frames
        assert all(math.isfinite(v) and abs(v) <= bound for v in doc[name])


def _check_telemetry(record: Telemetry) -> None:
    pairs: list = []
    json.loads(record.data, object_pairs_hook=lambda p: pairs.append(p) or dict(p))
    assert all(len({k for k, _ in p}) == len(p) for p in pairs)  # no duplicate keys
    doc = json.loads(record.data)
    assert len(doc) <= TELEMETRY_MAX_FIELDS and doc.get("device_id", "box-1") == "box-1"


def _parse_and_store(store, topic: str, payload: bytes, ts=None, seq=None):
    record = parse_message(Inbound(topic, payload, RX, ts, seq), "sensors", LIMITS)
    _check_common(record)
    store.write_batch([record])  # raises if the store cannot keep it
    return record


@FUZZ
@given(payload=telemetry_payloads(), dev=st.one_of(st.just("box-1"), device))
def test_telemetry_parser(store, payload, dev):
    record = _parse_and_store(store, f"sensors/{dev}/telemetry", payload)
    if isinstance(record, Telemetry):
        assert len(payload) <= LIMITS.max_telemetry_bytes
        if record.device_id == "box-1":
            _check_telemetry(record)


@FUZZ
@given(payload=vibration_payloads(), seq=props)
def test_vibration_parser(store, payload, seq):
    record = _parse_and_store(store, "sensors/box-1/vibration", payload, seq=seq)
    if isinstance(record, Window):
        _check_vibration(record)


@FUZZ
@given(payload=wav_payloads(), ts=props, seq=props)
def test_audio_parser_and_inspect_wav(store, payload, ts, seq):
    try:
        info = inspect_wav(payload)
    except WavError as e:
        assert e.code in REASONS
        info = None
    record = _parse_and_store(store, "sensors/box-1/audio", payload, ts=ts, seq=seq)
    if isinstance(record, Window):
        assert info is not None and len(payload) <= LIMITS.max_audio_bytes
        assert 8000 <= info.sample_rate <= 96000 and 1 <= info.channels <= 8
        assert 0.25 <= info.duration_s <= 60
        assert info.encoding in ("pcm16", "pcm24", "pcm32", "float32")


@FUZZ
@given(topic=any_text, payload=st.binary(max_size=128), ts=props, seq=props)
def test_any_topic_and_bytes(store, topic, payload, ts, seq):
    _parse_and_store(store, topic, payload, ts=ts, seq=seq)
