"""Strict WAV (RIFF/WAVE) inspection, decoding and encoding with numpy only.

Sensor boxes publish WAV files over MQTT. The stdlib ``wave`` module rejects float and
WAVE_FORMAT_EXTENSIBLE files and soundfile would pull libsndfile onto the gateway, so the
format is parsed here. Intake calls :func:`inspect_wav` on every message, so it reads only the
headers and touches sample data solely to prove float samples are finite.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MIN_CHANNELS, MAX_CHANNELS = 1, 8
MIN_RATE, MAX_RATE = 8_000, 96_000
MIN_DURATION_S, MAX_DURATION_S = 0.25, 60.0

_TAG_PCM, _TAG_FLOAT, _TAG_EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_KSDATAFORMAT_SUFFIX = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_ENCODINGS = {
    (_TAG_PCM, 16): "pcm16",
    (_TAG_PCM, 24): "pcm24",
    (_TAG_PCM, 32): "pcm32",
    (_TAG_FLOAT, 32): "float32",
}
_FORMATS = {encoding: key for key, encoding in _ENCODINGS.items()}
_BYTES = {"pcm16": 2, "pcm24": 3, "pcm32": 4, "float32": 4}  # per sample
_CHUNK = struct.Struct("<4sI")  # chunk id, chunk size
_FMT = struct.Struct("<HHIIHH")  # tag, channels, rate, byte rate, block align, bits
_EXT = struct.Struct("<HHIH")  # cbSize, valid bits, channel mask, SubFormat tag
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # canonical 44-byte header
_DECODE = {"pcm16": ("<i2", 2.0**-15), "pcm32": ("<i4", 2.0**-31), "float32": ("<f4", 1.0)}


class WavError(ValueError):
    """A payload intake must reject; ``code`` is the stable reason kept for the operator.

    code is one of: "not_wav", "truncated_wav", "unsupported_encoding", "out_of_range",
    "non_finite".
    """

    def __init__(self, code: str, detail: str) -> None:
        # Both go into args so the error survives pickling across worker processes.
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True, slots=True)
class WavInfo:
    """What intake stores alongside the raw payload, so it never has to re-parse the header."""

    encoding: str  # "pcm16" | "pcm24" | "pcm32" | "float32"
    channels: int
    sample_rate: int
    frames: int
    duration_s: float
    data_offset: int  # byte offset of the sample data in the payload
    data_size: int  # bytes of sample data (frames * block_align)


def _chunk_name(cid: bytes) -> str:
    """Chunk ids come from untrusted payloads; keep them printable in rejection details."""
    return repr(cid.decode("latin-1"))


def _find_chunks(payload: bytes) -> tuple[int, int, int, int]:
    """Walk the chunk list, since writers put LIST/bext/fact (odd-sized too) before the data."""
    n = len(payload)
    if n < 12:
        raise WavError("not_wav", f"payload is {n} bytes, too short for a RIFF/WAVE header")
    if payload[:4] != b"RIFF" or payload[8:12] != b"WAVE":
        raise WavError("not_wav", f"payload starts with {bytes(payload[:12])!r}, not RIFF/WAVE")
    fmt_pos = fmt_size = -1
    pos = 12
    while pos < n:  # a missing pad byte after the last chunk (pos == n + 1) also ends the walk
        if pos + 8 > n:
            raise WavError("truncated_wav", f"chunk header at byte {pos} runs past the end ({n})")
        cid, size = _CHUNK.unpack_from(payload, pos)
        body = pos + 8
        if cid == b"data":
            if fmt_pos < 0:
                raise WavError("not_wav", f"data chunk at byte {pos} comes before any fmt chunk")
            if size > n - body:  # also catches the 0xFFFFFFFF streaming placeholder
                raise WavError(
                    "truncated_wav", f"data chunk declares {size} bytes, {n - body} left"
                )
            return fmt_pos, fmt_size, body, size
        if size > n - body:
            name = _chunk_name(cid)
            raise WavError("truncated_wav", f"{name} chunk declares {size} bytes, {n - body} left")
        if cid == b"fmt ":
            if size < 16:
                raise WavError("not_wav", f"fmt chunk is {size} bytes, shorter than 16")
            fmt_pos, fmt_size = body, size
        pos = body + size + (size & 1)
    if fmt_pos < 0:
        raise WavError("not_wav", "payload has neither a fmt nor a data chunk")
    raise WavError("not_wav", "payload has a fmt chunk but no data chunk")


def _parse_fmt(payload: bytes, pos: int, size: int) -> tuple[str, int, int, int]:
    """Reduce the fmt chunk (plain or EXTENSIBLE) to one of the four encodings we analyse."""
    tag, channels, rate, _, block_align, bits = _FMT.unpack_from(payload, pos)
    real_tag = tag
    if tag == _TAG_EXTENSIBLE:
        if size < 40:
            raise WavError("not_wav", f"WAVE_FORMAT_EXTENSIBLE fmt chunk is {size} bytes, not 40+")
        cb_size, valid_bits, _, real_tag = _EXT.unpack_from(payload, pos + 16)
        if cb_size < 22:
            raise WavError("not_wav", f"WAVE_FORMAT_EXTENSIBLE cbSize is {cb_size}, not 22+")
        suffix = bytes(payload[pos + 26 : pos + 40])
        if suffix != _KSDATAFORMAT_SUFFIX:
            raise WavError(
                "unsupported_encoding", f"SubFormat GUID suffix {suffix.hex()} is not KSDATAFORMAT"
            )
        if valid_bits > bits:
            raise WavError("not_wav", f"{valid_bits} valid bits exceed the {bits}-bit container")
    encoding = _ENCODINGS.get((real_tag, bits))
    if encoding is None:
        raise WavError(
            "unsupported_encoding",
            f"format tag 0x{real_tag:04X} with {bits} bits per sample is not supported "
            "(need PCM 16/24/32-bit or float 32-bit)",
        )
    if block_align != channels * (bits // 8):
        raise WavError(
            "not_wav", f"block align {block_align} does not match {channels} channels x {bits} bits"
        )
    return encoding, channels, rate, block_align


def inspect_wav(payload: bytes) -> WavInfo:
    """Validate a payload cheaply enough for every intake message, without copying samples."""
    fmt_pos, fmt_size, data_offset, data_size = _find_chunks(payload)
    encoding, channels, rate, block_align = _parse_fmt(payload, fmt_pos, fmt_size)
    if not MIN_CHANNELS <= channels <= MAX_CHANNELS:
        raise WavError("out_of_range", f"{channels} channels is outside 1-8 channels")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise WavError("out_of_range", f"sample rate {rate} Hz is outside 8000-96000 Hz")
    if data_size % block_align:
        raise WavError(
            "truncated_wav",
            f"data size {data_size} bytes is not a multiple of the block align {block_align}",
        )
    frames = data_size // block_align
    duration = frames / rate
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise WavError(
            "out_of_range",
            f"duration {duration:g} s ({frames} frames at {rate} Hz) is outside 0.25-60 s",
        )
    if encoding == "float32":
        view = np.frombuffer(payload, "<f4", frames * channels, data_offset)  # zero-copy
        if not np.isfinite(view).all():
            bad = view.size - np.count_nonzero(np.isfinite(view))
            raise WavError("non_finite", f"float32 data contains {bad} NaN or Inf samples")
    return WavInfo(encoding, channels, rate, frames, duration, data_offset, data_size)


def decode_frames(payload: bytes, info: WavInfo, start: int = 0, stop: int | None = None
                  ) -> np.ndarray:
    """Frames [start, stop) of an inspected WAV as float32 (frames, channels) in [-1, 1).

    Only the slice's bytes are read and converted, so a long window can be analysed a piece
    at a time without ever holding all of its samples as floats. PCM is scaled by a power of
    two, so pcm16/pcm24 are exact; pcm32 keeps float32 precision (24 bits), which rounds the
    largest positive codes up to 1.0.
    """
    stop = info.frames if stop is None else min(stop, info.frames)
    start = min(max(start, 0), stop)
    offset = info.data_offset + start * info.channels * _BYTES[info.encoding]
    count = (stop - start) * info.channels
    if info.encoding == "pcm24":
        # Put the 3 bytes in the top of an int32: sign extension for free, and exact in float32.
        wide = np.zeros((count, 4), np.uint8)
        wide[:, 1:] = np.frombuffer(payload, np.uint8, count * 3, offset).reshape(count, 3)
        samples = wide.view("<i4").astype(np.float32)
        scale = 2.0**-31
    else:
        dtype, scale = _DECODE[info.encoding]
        samples = np.frombuffer(payload, dtype, count, offset).astype(np.float32)
    if scale != 1.0:
        samples *= np.float32(scale)
    return samples.reshape(stop - start, info.channels)


def decode_wav(payload: bytes) -> tuple[np.ndarray, int]:
    """Give analysis one sample layout: float32 (frames, channels) in [-1, 1) whatever the file."""
    info = inspect_wav(payload)
    return decode_frames(payload, info), info.sample_rate


def piece_bounds(frames: int, piece_frames: int) -> list[tuple[int, int]]:
    """[start, stop) of consecutive pieces of piece_frames; the last one takes the remainder
    (so every piece has piece_frames to 2 * piece_frames - 1 frames, and a window shorter than
    two pieces stays whole)."""
    count = max(1, frames // max(piece_frames, 1))
    starts = [i * piece_frames for i in range(count)]
    return [(a, b) for a, b in zip(starts, starts[1:] + [frames], strict=True)]


def _pcm_bytes(data: np.ndarray, bits: int) -> bytes:
    """Round then clip, so +1.0 becomes the largest code instead of wrapping to the minimum."""
    if not np.isfinite(data).all():
        raise ValueError("cannot encode NaN or Inf samples as PCM")
    full = 2.0 ** (bits - 1)
    codes = np.clip(np.rint(data * full), -full, full - 1).astype("<i4")
    if bits == 16:
        return codes.astype("<i2").tobytes()
    if bits == 24:
        return codes.reshape(-1).view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return codes.tobytes()


def encode_wav(samples: np.ndarray, sample_rate: int, encoding: str = "pcm16") -> bytes:
    """Write a canonical 44-byte-header WAV for tests, the microphone source and the simulator.

    Ranges are deliberately not enforced here so tests can build files inspect_wav must reject;
    float32 is written as given (no clipping, NaN kept) for the same reason.
    """
    if encoding not in _FORMATS:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {sorted(_FORMATS)}")
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or not 1 <= data.shape[1] <= 0xFFFF:
        raise ValueError(f"samples must be (frames,) or (frames, channels), got {data.shape}")
    rate = int(sample_rate)
    tag, bits = _FORMATS[encoding]
    body = data.astype("<f4").tobytes() if tag == _TAG_FLOAT else _pcm_bytes(data, bits)
    channels = data.shape[1]
    block_align = channels * bits // 8
    if rate != sample_rate or not 0 < rate * block_align <= 0xFFFFFFFF:
        raise ValueError(f"sample rate {sample_rate!r} cannot be written to a WAV header")
    if len(body) > 0xFFFFFFFF - 37:
        raise ValueError(f"{len(body)} bytes of samples do not fit in a RIFF file")
    pad = b"\0" * (len(body) & 1)
    header = _HEADER.pack(
        b"RIFF", 36 + len(body) + len(pad), b"WAVE", b"fmt ", 16, tag, channels, rate,
        rate * block_align, block_align, bits, b"data", len(body),
    )  # fmt: skip
    return header + body + pad
