"""Tests for gateway.wav: every accepted encoding round-trips and every rejection has its code."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

from gateway.wav import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    WavError,
    WavInfo,
    decode_wav,
    encode_wav,
    inspect_wav,
)

GUID_SUFFIX = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
BITS = {"pcm16": 16, "pcm24": 24, "pcm32": 32, "float32": 32}
# Worst-case decode error after encode: 1 LSB for PCM (clip at +1.0), float32 rounding for pcm32.
TOLERANCE = {"pcm16": 2.0**-15, "pcm24": 2.0**-23, "pcm32": 2.0**-23, "float32": 0.0}


def chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk with its pad byte; ``size`` lets a test lie about the length."""
    declared = len(body) if size is None else size
    return struct.pack("<4sI", cid, declared) + body + b"\0" * (len(body) & 1)


def riff(*chunks: bytes, riff_size: int | None = None) -> bytes:
    """A RIFF/WAVE container around the given chunks."""
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def fmt(tag: int, channels: int, rate: int, bits: int, block_align: int | None = None) -> bytes:
    """A plain 16-byte fmt chunk."""
    align = channels * bits // 8 if block_align is None else block_align
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


def ext_fmt(
    sub_tag: int,
    channels: int,
    rate: int,
    bits: int,
    valid_bits: int | None = None,
    cb_size: int = 22,
    suffix: bytes = GUID_SUFFIX,
) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE fmt chunk, as built by Windows and many recorders."""
    align = channels * bits // 8
    base = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * align, align, bits)
    valid = bits if valid_bits is None else valid_bits
    extra = struct.pack("<HHIH", cb_size, valid, (1 << channels) - 1, sub_tag) + suffix
    return chunk(b"fmt ", base + extra)


def tone(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    """Noise spanning the full [-1, 1] range, including both full-scale endpoints."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, (frames, channels))
    x[0, 0], x[-1, -1] = -1.0, 1.0
    return x


def code_of(payload: bytes) -> str:
    """Run inspect_wav expecting a rejection and return its code."""
    with pytest.raises(WavError) as info:
        inspect_wav(payload)
    assert str(info.value) == info.value.detail and info.value.detail
    return info.value.code


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 96000])
@pytest.mark.parametrize("channels", [1, 2, 8])
@pytest.mark.parametrize("encoding", ["pcm16", "pcm24", "pcm32", "float32"])
def test_round_trip(encoding: str, channels: int, rate: int) -> None:
    frames = rate // 4 + 1  # just over the 0.25 s minimum; odd so pcm24 mono needs a pad byte
    samples = tone(frames, channels, seed=rate + channels)
    payload = encode_wav(samples, rate, encoding)
    block_align = channels * BITS[encoding] // 8

    info = inspect_wav(payload)
    assert info == WavInfo(
        encoding, channels, rate, frames, frames / rate, 44, frames * block_align
    )
    tag, ch, hdr_rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", payload, 20)
    assert (tag, ch, hdr_rate, align, bits) == (
        3 if encoding == "float32" else 1,
        channels,
        rate,
        block_align,
        BITS[encoding],
    )
    assert byte_rate == rate * block_align
    assert len(payload) % 2 == 0
    assert struct.unpack_from("<I", payload, 4)[0] == len(payload) - 8

    decoded, got_rate = decode_wav(payload)
    assert got_rate == rate
    assert decoded.dtype == np.float32 and decoded.shape == (frames, channels)
    assert decoded.flags.writeable
    expected = samples.astype(np.float32)
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=TOLERANCE[encoding])
    if encoding != "pcm32":  # pcm32 loses its low bits to float32, so it cannot be byte-exact
        assert encode_wav(decoded, rate, encoding) == payload


def test_encode_accepts_1d_and_float32_input() -> None:
    mono = np.linspace(-1, 1, 4000, dtype=np.float32)
    assert encode_wav(mono, 16000) == encode_wav(mono[:, None], 16000)
    decoded, _ = decode_wav(encode_wav(mono, 16000, "float32"))
    np.testing.assert_array_equal(decoded[:, 0], mono)


def test_encode_clips_pcm_and_keeps_float_values() -> None:
    x = np.zeros(2000)
    x[:4] = [2.0, -2.0, 1.0, -1.0]
    for encoding, top in [("pcm16", 32767), ("pcm24", 8388607), ("pcm32", 2147483647)]:
        payload = encode_wav(x, 8000, encoding)
        width = BITS[encoding] // 8
        codes = [
            int.from_bytes(payload[44 + i * width : 44 + (i + 1) * width], "little", signed=True)
            for i in range(4)
        ]
        assert codes == [top, -top - 1, top, -top - 1], encoding
    raw = encode_wav(x * 0.5, 8000, "float32")
    assert struct.unpack_from("<4f", raw, 44) == (1.0, -1.0, 0.5, -0.5)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros(10), 8000, "pcm8"), "unknown encoding"),
        ((np.zeros((2, 2, 2)), 8000), "samples must be"),
        ((np.zeros((10, 0)), 8000), "samples must be"),
        ((np.array([0.0, np.nan]), 8000), "NaN"),
        ((np.array([0.0, np.inf]), 8000, "pcm24"), "NaN or Inf"),
        ((np.zeros(10), 8000.5), "sample rate"),
        ((np.zeros(10), 0), "sample rate"),
    ],
)
def test_encode_rejects_bad_arguments(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode_wav(*args)


# --- decoding exactness ------------------------------------------------------------------------


def pcm_file(bits: int, body: bytes, channels: int = 1, rate: int = 8000) -> bytes:
    """Pad a known sample body with silence to the minimum duration."""
    align = channels * bits // 8
    body += b"\0" * (rate // 4 * align)
    return riff(fmt(1, channels, rate, bits), chunk(b"data", body))


def test_pcm16_full_scale_exact() -> None:
    body = struct.pack("<4h", -32768, 32767, 1, -1)
    decoded, _ = decode_wav(pcm_file(16, body))
    assert decoded[:4, 0].tolist() == [-1.0, 32767 / 32768, 2.0**-15, -(2.0**-15)]


def test_pcm24_sign_extends() -> None:
    raw = [
        b"\x00\x00\x80",
        b"\xff\xff\x7f",
        b"\xff\xff\xff",
        b"\x01\x00\x00",
        b"\x00\x00\xc0",
        b"\x56\x34\x12",
        b"\xaa\xcb\xed",
    ]
    decoded, _ = decode_wav(pcm_file(24, b"".join(raw)))
    expected = [-8388608, 8388607, -1, 1, -4194304, 0x123456, -0x123456]
    assert decoded[: len(raw), 0].tolist() == [v / 8388608 for v in expected]
    assert decoded[len(raw) :, 0].tolist() == [0.0] * (len(decoded) - len(raw))


def test_pcm32_full_scale() -> None:
    body = struct.pack("<4i", -(2**31), 2**31 - 1, 1, 2**30)
    decoded, _ = decode_wav(pcm_file(32, body))
    # +full scale has no float32 representation below 1.0, so it rounds to 1.0.
    assert decoded[:4, 0].tolist() == [-1.0, 1.0, 2.0**-31, 0.5]


def test_multichannel_interleaving() -> None:
    body = struct.pack("<6h", 1, 2, 3, 4, 5, 6)
    decoded, _ = decode_wav(pcm_file(16, body, channels=3))
    assert (decoded[:2] * 32768).tolist() == [[1, 2, 3], [4, 5, 6]]


# --- container variants that must be accepted --------------------------------------------------


def test_extensible_pcm24() -> None:
    body = b"\x00\x00\x80\xff\xff\x7f" + b"\x00" * (16000 // 4 * 6 - 6)
    payload = riff(ext_fmt(1, 2, 16000, 24, valid_bits=20), chunk(b"data", body))
    info = inspect_wav(payload)
    got = (info.encoding, info.channels, info.sample_rate, info.frames)
    assert got == ("pcm24", 2, 16000, 4000)
    assert info.data_offset == 12 + 8 + 40 + 8
    decoded, _ = decode_wav(payload)
    assert decoded[0].tolist() == [-1.0, 8388607 / 8388608]


def test_extensible_float32() -> None:
    samples = np.linspace(-1, 1, 3000, dtype="<f4")
    payload = riff(ext_fmt(3, 1, 12000, 32), chunk(b"data", samples.tobytes()))
    assert inspect_wav(payload).encoding == "float32"
    decoded, rate = decode_wav(payload)
    assert rate == 12000
    np.testing.assert_array_equal(decoded[:, 0], samples)


def test_unknown_and_odd_chunks_are_skipped() -> None:
    body = struct.pack("<2000h", *range(2000))
    payload = riff(
        chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00"),  # 17 bytes: odd, padded
        chunk(b"bext", b"x" * 3),
        fmt(1, 1, 8000, 16),
        chunk(b"fact", struct.pack("<I", 2000)),
        chunk(b"junk", b"abc"),
        chunk(b"data", body),
        chunk(b"LIST", b"trailing chunks after data are ignored"),
    )
    info = inspect_wav(payload)
    assert info.frames == 2000 and payload[info.data_offset : info.data_offset + 4] == body[:4]
    decoded, _ = decode_wav(payload)
    assert decoded[1999, 0] == 1999 / 32768


@pytest.mark.parametrize("riff_size", [0, 4, 0xFFFFFFFF])
def test_wrong_riff_size_is_tolerated(riff_size: int) -> None:
    payload = riff(fmt(1, 1, 8000, 16), chunk(b"data", bytes(4000)), riff_size=riff_size)
    assert inspect_wav(payload).frames == 2000


def test_odd_data_without_pad_byte_at_end() -> None:
    payload = encode_wav(np.zeros(2001), 8000, "pcm24")
    assert len(payload) % 2 == 0
    assert inspect_wav(payload[:-1]).frames == 2001


def test_duration_bounds_inclusive() -> None:
    assert inspect_wav(encode_wav(np.zeros(2000), 8000)).duration_s == MIN_DURATION_S
    assert inspect_wav(encode_wav(np.zeros(480_000), 8000)).duration_s == MAX_DURATION_S


def test_inspect_holds_no_buffer_after_return() -> None:
    payload = bytearray(encode_wav(np.zeros(4000), 16000, "float32"))
    assert inspect_wav(payload).data_offset == 44
    payload.extend(b"ok")  # BufferError if the zero-copy finiteness view outlived the call


# --- rejections --------------------------------------------------------------------------------

GOOD = encode_wav(np.zeros(4000), 16000)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"RIFF\0\0\0\0WAV", id="11-bytes"),
        pytest.param(np.random.default_rng(1).bytes(500), id="random-bytes"),
        pytest.param(b"RIFF\x24\0\0\0WAVX" + GOOD[12:], id="WAVX"),
        pytest.param(b"RIFX" + GOOD[4:], id="RIFX"),
        pytest.param(b"RIFF\x04\0\0\0WAVE", id="no-chunks"),
        pytest.param(riff(chunk(b"data", bytes(4000))), id="data-without-fmt"),
        pytest.param(riff(chunk(b"data", bytes(4000)), fmt(1, 1, 8000, 16)), id="fmt-after-data"),
        pytest.param(riff(chunk(b"fmt ", bytes(14)), chunk(b"data", bytes(4000))), id="fmt-14"),
        pytest.param(riff(fmt(1, 1, 8000, 16)), id="no-data"),
        pytest.param(riff(fmt(1, 1, 8000, 16), chunk(b"LIST", b"abc")[:-1]), id="no-data-odd"),
        pytest.param(
            riff(fmt(1, 2, 8000, 16, block_align=2), chunk(b"data", bytes(4000))),
            id="bad-block-align",
        ),
        pytest.param(
            riff(chunk(b"fmt ", ext_fmt(1, 1, 8000, 16)[8:-4]), chunk(b"data", bytes(4000))),
            id="extensible-short",
        ),
        pytest.param(
            riff(ext_fmt(1, 1, 8000, 16, cb_size=0), chunk(b"data", bytes(4000))),
            id="extensible-cbsize",
        ),
        pytest.param(
            riff(ext_fmt(1, 1, 8000, 16, valid_bits=20), chunk(b"data", bytes(4000))),
            id="valid-bits-exceed-container",
        ),
    ],
)
def test_not_wav(payload: bytes) -> None:
    assert code_of(payload) == "not_wav"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(GOOD[:16], id="in-fmt-header"),
        pytest.param(GOOD[:30], id="in-fmt-body"),
        pytest.param(GOOD[:40], id="in-data-header"),
        pytest.param(GOOD[:-1], id="one-byte-short"),
        pytest.param(GOOD[: len(GOOD) // 2], id="half-data"),
        pytest.param(GOOD[:36] + b"data\xff\xff\xff\xff" + GOOD[44:], id="streaming-size"),
        pytest.param(riff(chunk(b"LIST", b"x" * 10, size=100)), id="list-past-end"),
        pytest.param(riff(chunk(b"LIST", b"x" * 10), b"da"), id="partial-chunk-header"),
        pytest.param(riff(fmt(1, 1, 8000, 16), b"\0"), id="one-stray-byte"),
    ],
)
def test_truncated(payload: bytes) -> None:
    assert code_of(payload) == "truncated_wav"


def test_data_not_multiple_of_block_align() -> None:
    payload = riff(fmt(1, 2, 8000, 16), chunk(b"data", bytes(8001)))
    with pytest.raises(WavError, match="8001 bytes is not a multiple of the block align 4") as e:
        inspect_wav(payload)
    assert e.value.code == "truncated_wav"


@pytest.mark.parametrize(
    ("fmt_chunk", "shown"),
    [
        (fmt(1, 1, 8000, 8), "0x0001 with 8 bits"),
        (fmt(1, 1, 8000, 12, block_align=2), "0x0001 with 12 bits"),
        (fmt(7, 1, 8000, 8), "0x0007 with 8 bits"),  # mu-law
        (fmt(6, 1, 8000, 8), "0x0006 with 8 bits"),  # A-law
        (fmt(2, 1, 8000, 4, block_align=256), "0x0002 with 4 bits"),  # MS ADPCM
        (fmt(3, 1, 8000, 64), "0x0003 with 64 bits"),  # float64
        (fmt(3, 1, 8000, 16), "0x0003 with 16 bits"),
        (ext_fmt(3, 1, 8000, 64), "0x0003 with 64 bits"),
        (ext_fmt(2, 1, 8000, 16), "0x0002 with 16 bits"),
        (ext_fmt(1, 1, 8000, 16, suffix=b"\x01" * 14), "SubFormat GUID suffix 0101"),
    ],
)
def test_unsupported_encoding(fmt_chunk: bytes, shown: str) -> None:
    payload = riff(fmt_chunk, chunk(b"data", bytes(16000)))
    with pytest.raises(WavError, match=shown) as e:
        inspect_wav(payload)
    assert e.value.code == "unsupported_encoding"


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        (encode_wav(np.zeros((4000, 9)), 16000), "9 channels"),
        (riff(fmt(1, 0, 8000, 16), chunk(b"data", b"")), "0 channels"),
        (encode_wav(np.zeros(4000), 4000), "sample rate 4000 Hz is outside 8000-96000 Hz"),
        (encode_wav(np.zeros(100_000), 100_000), "sample rate 100000 Hz"),
        (encode_wav(np.zeros(1600), 16000), r"duration 0.1 s \(1600 frames at 16000 Hz\)"),
        (encode_wav(np.zeros(1999), 8000), "duration 0.249875 s"),
        (riff(fmt(1, 1, 8000, 16), chunk(b"data", b"")), "duration 0 s"),
        (encode_wav(np.zeros(488_000), 8000), "duration 61 s"),
        (encode_wav(np.zeros(480_001), 8000), "480001 frames"),
    ],
    ids=["9ch", "0ch", "4kHz", "100kHz", "0.1s", "just-short", "empty-data", "61s", "just-long"],
)
def test_out_of_range(payload: bytes, shown: str) -> None:
    with pytest.raises(WavError, match=shown) as e:
        inspect_wav(payload)
    assert e.value.code == "out_of_range"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(bad: float) -> None:
    x = np.zeros((4000, 2))
    x[123, 1] = bad
    x[3999, 0] = bad
    payload = encode_wav(x, 16000, "float32")
    for p in (payload, riff(ext_fmt(3, 2, 16000, 32), chunk(b"data", payload[44:]))):
        with pytest.raises(WavError, match="contains 2 NaN or Inf samples") as e:
            inspect_wav(p)
        assert e.value.code == "non_finite"
        with pytest.raises(WavError):
            decode_wav(p)


def test_decode_raises_inspect_errors() -> None:
    with pytest.raises(WavError) as e:
        decode_wav(GOOD[:-2])
    assert e.value.code == "truncated_wav"


def test_wav_error_shape() -> None:
    err = WavError("out_of_range", "sample rate 4000 Hz is outside 8000-96000 Hz")
    assert isinstance(err, ValueError)
    assert str(err) == err.detail == "sample rate 4000 Hz is outside 8000-96000 Hz"
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.code, clone.detail, str(clone)) == (err.code, err.detail, str(err))
