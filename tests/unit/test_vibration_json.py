"""Vibration messages read without Python lists (issue 12.7): the plain case's arrays go
straight into numpy, and whatever the fast path accepts reads exactly as json reads it, so
intake accepts and rejects the same messages with the same reasons and details, and the
analysis sees the same samples bit for bit."""

from __future__ import annotations

import json
import tracemalloc
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import IntakeSection
from gateway.inference import worker
from gateway.inference.worker import STANDARD_GRAVITY, decode_vibration
from gateway.intake import payloads
from gateway.intake.payloads import Inbound, parse_message
from gateway.vibration_json import AXES, axis_length, axis_pieces, read_axis, split_axes

RX = 1_732_350_005_000
LIMITS = IntakeSection()
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
# Hypothesis draws the bounds of a range (0 above all) far more often than the rest.
RARE = 17
STRICT = payloads._JSON  # intake's decoder: NaN refused, keys unique

any_number = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,4})?",
                           fullmatch=True)
sample = st.one_of(st.from_regex(r"-?(0|[1-9][0-9]{0,3})(\.[0-9]{1,8})?([eE]-?[0-9])?",
                                 fullmatch=True), any_number)
not_a_number = st.sampled_from(["01", "+1", "1.", ".5", "NaN", "-Infinity", "1e", "--1",
                                "0x10", "1_0", '"1"', "true", "null", "[1]", "{}", ""])
ws = st.text(" \t\n\r", max_size=2)
odd_ws = st.sampled_from(["\v", "\f", "\u00a0", "\u3000"])


@st.composite
def array_text(draw) -> str:
    n = draw(st.integers(min_value=8, max_value=12)) if draw(st.integers(0, 3)) != 2 else \
        draw(st.integers(0, 12))
    tokens = [draw(sample) for _ in range(n)]
    if tokens and draw(st.integers(0, 19)) == RARE:
        tokens[draw(st.integers(0, n - 1))] = draw(not_a_number)
    sep = draw(st.sampled_from([",", " , ", ",\n", draw(ws) + "," + draw(ws)]))
    text = "[" + draw(ws) + sep.join(tokens) + draw(ws) + "]"
    if draw(st.integers(0, 29)) == RARE:
        text = text[:-1] + draw(st.sampled_from([",]", "", draw(odd_ws) + "]"]))
    return text


def _member(key: str, value: str, spacing: str) -> str:
    return f"{json.dumps(key)}{spacing}:{spacing}{value}"


@st.composite
def vibration_text(draw) -> bytes:
    """Vibration messages as text, mostly valid, with what could fool a scanner: axis keys in
    strings and nested objects, escaped keys, duplicates, junk around the object."""
    spacing = draw(ws)
    x = draw(array_text())
    same_length = st.just(x) if draw(st.booleans()) else array_text()
    members = [_member(name, draw(same_length) if name != "x" else x, spacing)
               for name in AXES if draw(st.integers(0, 29)) != RARE]
    rate = "25600" if draw(st.integers(0, 3)) != 2 else draw(st.one_of(st.sampled_from(
        ["3200.5", "0", "1e9", '"25600"', "NaN"]), any_number))
    members.append(_member("sample_rate", rate, spacing))
    harmless = st.sampled_from([
        _member("unit", draw(st.sampled_from(['"g"', '"m/s2"', '"g"', '"G"', "null"])), spacing),
        _member("ts", draw(st.one_of(any_number, st.just('"x"'))), spacing),
        _member("note", json.dumps('"x": ' + draw(array_text())), spacing),
        _member("meta", "{" + _member("y", draw(array_text()), spacing) + "}", spacing),
        _member("nested", "[{" + _member("z", draw(array_text()), "") + "}]", spacing),
        _member("text", json.dumps(draw(st.text(max_size=8)), ensure_ascii=False), spacing),
    ])
    tricky = st.sampled_from([
        '"\\u0078": ' + draw(array_text()),
        _member(draw(st.sampled_from(AXES)), draw(array_text()), spacing),  # twice
        _member("bad", "Infinity", spacing),
        '"ab\\"x": ' + draw(array_text()),
    ])
    members += draw(st.lists(harmless, max_size=3))
    if draw(st.integers(0, 4)) == 3:
        members.append(draw(tricky))
    members = draw(st.permutations(members))
    text = draw(ws) + "{" + draw(ws) + ("," + draw(ws)).join(members) + draw(ws) + "}" + \
        draw(ws)
    raw = text.encode("utf-8", "surrogatepass")
    damage = draw(st.integers(0, 29))
    if damage == RARE:
        raw += draw(st.sampled_from([b"x", b"{}", b"\xff"]))
    elif damage == RARE + 1 and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + draw(st.sampled_from([b"\xc3", b'"', b"]", b"\x00"])) + raw[at + 1:]
    return raw


def _parse(payload: bytes, plain: bool = True):
    msg = Inbound("sensors/box-1/vibration", payload, RX, seq_property="7")
    if plain:
        return parse_message(msg, "sensors", LIMITS)
    with patch.object(payloads, "split_axes", lambda payload, decoder: None):
        return parse_message(msg, "sensors", LIMITS)


@FUZZ
@given(payload=vibration_text())
def test_intake_accepts_and_rejects_exactly_as_json_reading_does(payload):
    assert _parse(payload) == _parse(payload, plain=False)


@FUZZ
@given(payload=vibration_text())
def test_what_the_fast_path_accepts_json_reads_to_the_same_values(payload):
    axes = split_axes(payload, STRICT)
    if axes is None:
        return
    doc = STRICT.decode(payload.decode("utf-8"))
    assert {k: v for k, v in doc.items() if k not in AXES} == \
        {k: v for k, v in axes.doc.items() if k not in AXES}
    for name in AXES:
        values = read_axis(payload, axes.spans[name])
        assert axis_length(payload, axes.spans[name]) == values.size == len(doc[name])
        try:
            expected = np.asarray(doc[name], dtype=np.float64)
        except OverflowError:  # an integer too large for a float: json's reading refuses it
            assert not np.isfinite(values).all()
            continue
        assert values.tobytes() == expected.tobytes()  # bit for bit, zeros' signs too


@FUZZ
@given(payload=vibration_text())
def test_the_analysis_reads_the_samples_json_would_give_it(payload):
    record = _parse(payload)
    if isinstance(record, payloads.Rejection):
        return
    xyz, rate = decode_vibration(payload)
    with patch.object(worker, "split_axes", lambda payload, decoder, accepted: None):
        old_xyz, old_rate = decode_vibration(payload)
    assert (xyz.tobytes(), xyz.shape, rate) == (old_xyz.tobytes(), old_xyz.shape, old_rate)


@pytest.mark.parametrize("text", [
    '{"ab\\"x": [1,2,3,4,5,6,7,8], "y": [1], "z": [1], "sample_rate": 100}',
    '{"ab\\"x": [1,2,3,4,5,6,7,8], "x": [1], "y": [1], "z": [1], "sample_rate": 100}',
    '{"meta": {"x": [1,2,3,4,5,6,7,8]}, "x": [], "y": [], "z": []}',
    '{"\\u0078": [1,2,3,4,5,6,7,8], "y": [1], "z": [1], "sample_rate": 100}',
    '{"x": [1], "x": [1,2,3,4,5,6,7,8], "y": [1], "z": [1], "sample_rate": 100}',
    '{"x": [1], "y": [1], "z": [1]} {"x": []}',
])
def test_a_message_that_only_looks_plain_is_read_by_json(text):
    assert split_axes(text.encode(), STRICT) is None


def test_an_integer_minus_zero_reads_as_json_reads_it():
    payload = b'{"x": [-0, -0.0, 1e-0, -0e1, -0 ,-0], "y": [], "z": []}'
    axes = split_axes(payload, STRICT)
    values = read_axis(payload, axes.spans["x"])
    expected = np.asarray(json.loads(payload)["x"], dtype=np.float64)
    assert values.tobytes() == expected.tobytes()
    assert list(np.signbit(values)) == [False, True, False, True, False, False]


def test_pieces_cut_at_commas_give_the_whole_axis():
    numbers = [f"{v:.9g}" for v in np.random.default_rng(3).normal(0, 5, 5000)]
    payload = ('{"x": [ ' + " , ".join(numbers) + ' ], "y": [], "z": []}').encode()
    span = split_axes(payload, STRICT).spans["x"]
    pieces = list(axis_pieces(payload, span, piece_bytes=100))
    assert len(pieces) > 100
    assert np.concatenate(pieces).tobytes() == \
        np.array([float(n) for n in numbers]).tobytes()


def _message(samples: int) -> bytes:
    rng = np.random.default_rng(5)
    axes = {name: ",".join(f"{v:.5f}" for v in rng.normal(0, 1, samples)) for name in AXES}
    return ('{"sample_rate": 25600, "unit": "g", ' +
            ", ".join(f'"{k}": [{v}]' for k, v in axes.items()) + "}").encode()


def _peak_bytes(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_intake_validates_a_large_message_without_lists_of_its_numbers():
    payload = _message(100_000)  # 2.7 MB; as Python lists 300,000 floats take 9.6 MB
    record, peak = _peak_bytes(lambda: _parse(payload))
    assert isinstance(record, payloads.Window) and record.frames == 100_000
    assert peak < len(payload) / 2


def test_the_analysis_reads_a_large_message_into_one_array_and_little_else():
    payload = _message(100_000)
    (xyz, rate), peak = _peak_bytes(lambda: decode_vibration(payload))
    assert xyz.shape == (3, 100_000) and rate == 25600.0
    assert peak < xyz.nbytes + 2 * 1024 * 1024
    reference = np.array([json.loads(payload)[k] for k in AXES]) * STANDARD_GRAVITY
    assert xyz.tobytes() == reference.tobytes()


LARGEST_AXIS = (4 * 1024 * 1024 - 100) // 6  # "d," a sample, three axes, a few keys


def _largest_message(samples: int = LARGEST_AXIS, big: str = "") -> bytes:
    """One-digit samples: about the most JSON numbers a 4 MiB message holds."""
    digits = np.random.default_rng(8).integers(0, 10, samples).astype(str)
    axis = big + ",".join(digits)
    return f'{{"sample_rate": 25600, "x": [{axis}], "y": [{axis}], "z": [{axis}]}}'.encode()


def test_the_largest_message_is_read_into_a_float32_window_and_little_else():
    """A window analysed in segments is held as float32 (features.window_dtype): 2 bytes of
    array per byte of the largest message's JSON, where float64 took 4."""
    payload = _largest_message()
    (xyz, rate), peak = _peak_bytes(lambda: decode_vibration(payload))
    assert xyz.dtype == np.float32 and xyz.shape == (3, LARGEST_AXIS)
    assert peak < 3 * len(payload), f"{peak / len(payload):.2f} times the payload"
    with patch.object(worker, "split_axes", lambda payload, decoder, accepted: None):
        by_json = decode_vibration(payload)[0]
    assert xyz.tobytes() == by_json.tobytes()
    assert xyz.tobytes() == np.array([json.loads(payload)[k] for k in AXES],
                                     np.float32).tobytes()


def test_a_window_too_large_for_float32_is_read_as_float64():
    payload = _largest_message(300_000, big="1e39,")
    xyz, _ = decode_vibration(payload)
    assert xyz.dtype == np.float64 and (xyz[:, 0] == 1e39).all() and np.isfinite(xyz).all()
