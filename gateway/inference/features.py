"""Numpy features for the models: resampling, log-mel context vectors and vibration severity.

The same functions run on the gateway and in the training tool (tools/train_model.py), so a
model sees exactly the features it was trained on. docs/inference.md states every parameter
and the librosa call that reproduces :func:`log_mel`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from gateway.inference.segments import (
    SEGMENT,
    is_segmented,
    max_abs,
    mean_of_powers,
    mean_power,
    mean_square_sum,
)

AMIN = 1e-10  # power floor before the log: librosa.power_to_db's default, i.e. -100 dB
RESAMPLE_PAD = 256  # input samples of reflected signal on each side, for the filter's ringing
RESAMPLE_TAPER = 0.05  # share of the pass band, below the cut-off, where the gain rolls off
MAX_RATIO_DENOMINATOR = 100_000  # exact for every integer rate up to 100 kHz

ISO_BAND_HZ = (10.0, 1000.0)  # ISO 10816-1 broadband velocity measurement range
# ISO 10816-1 upper bounds of zones A, B and C in mm/s by machine class (above: "D"). I: small
# machines up to 15 kW; II: medium, 15-75 kW (up to 300 kW on special foundations); III: large,
# rigid foundations; IV: large, soft foundations. [machines.<id>] iso_class picks one.
ISO_CLASSES = {"I": (0.71, 1.8, 4.5), "II": (1.12, 2.8, 7.1), "III": (1.8, 4.5, 11.2),
               "IV": (2.8, 7.1, 18.0)}
DEFAULT_ISO_CLASS = "I"
ISO_CLASS_MACHINES = {"I": "small machines up to 15 kW", "II": "medium machines, 15-75 kW",
                      "III": "large machines on rigid foundations",
                      "IV": "large machines on soft foundations"}
LONG_AXIS = 1 << 17  # samples per axis (5 s at 25.6 kHz) beyond which spectra go axis by axis
MIN_VIBRATION_S = 0.1  # a 10 Hz lower band edge needs at least 1/10 s of signal


class FeatureError(ValueError):
    """This input cannot be analysed (too short, not finite, wrong layout); retrying won't help."""


@dataclass(frozen=True)
class MelParams:
    """What turns a mono waveform into model input vectors; a model card carries all of them."""

    sample_rate: int = 16_000  # the model rate; every input is resampled to it
    n_fft: int = 1024  # 64 ms frames: 15.6 Hz bins resolve the 25-30 Hz rotation lines
    hop_length: int = 512  # 32 ms hop, 50 % overlap: 32 frames per second
    n_mels: int = 64
    fmin: float = 0.0  # keep the rotation fundamental and mains hum in the lowest bands
    fmax: float = 8000.0  # Nyquist of the model rate: bearing and leak noise live up here
    context_frames: int = 5  # frames concatenated into one vector: 5 x 64 = 320 values

    def __post_init__(self) -> None:
        counts = (self.sample_rate, self.n_fft, self.hop_length, self.n_mels, self.context_frames)
        numbers = (self.fmin, self.fmax)
        if not (all(isinstance(v, Integral) and not isinstance(v, bool) for v in counts)
                and all(isinstance(v, Real) and not isinstance(v, bool) for v in numbers)):
            raise ValueError(f"invalid mel parameters {asdict(self)}: need whole numbers for "
                             "sample_rate, n_fft, hop_length, n_mels, context_frames and "
                             "numbers for fmin, fmax")
        problems = []
        if self.sample_rate <= 0 or self.n_fft < 16 or not 0 < self.hop_length <= self.n_fft:
            problems.append("need sample_rate > 0, n_fft >= 16 and 0 < hop_length <= n_fft")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            problems.append("need 0 <= fmin < fmax <= sample_rate / 2")
        if self.n_mels < 1 or self.context_frames < 1:
            problems.append("need n_mels >= 1 and context_frames >= 1")
        if problems:
            raise ValueError(f"invalid mel parameters {asdict(self)}: {'; '.join(problems)}")

    @property
    def vector_size(self) -> int:
        return self.context_frames * self.n_mels

    def min_samples(self) -> int:
        """Fewest model-rate samples that still give one context vector (centred frames)."""
        return (self.context_frames - 1) * self.hop_length


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) as gateway.wav.decode_wav gives it → (frames,) float32."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        return data
    if data.ndim == 2 and data.shape[1] >= 1:
        return data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    raise FeatureError(f"audio samples must be (frames,) or (frames, channels), got {data.shape}")


@lru_cache(maxsize=64)
def smooth_at_least(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: FFT lengths pocketfft handles fastest."""
    best = 1 << max(n - 1, 0).bit_length()
    five = 1
    while five < best:
        odd = five
        while odd < best:
            candidate = odd << max(0, (n - 1) // odd).bit_length()  # odd * 2^k >= n
            best = min(best, candidate)
            odd *= 3
        five *= 5
    return best


@lru_cache(maxsize=64)
def smooth_at_most(n: int) -> int:
    """Largest 2^a 3^b 5^c <= n (n >= 1): within ~2 % of n for the lengths analysed here."""
    best = 1
    five = 1
    while five <= n:
        odd = five
        while odd <= n:
            best = max(best, odd << (n // odd).bit_length() - 1)  # odd * 2^k <= n
            odd *= 3
        five *= 5
    return best


def _rate_ratio(from_rate: float, to_rate: float) -> Fraction:
    if not (np.isfinite(from_rate) and np.isfinite(to_rate) and from_rate > 0 and to_rate > 0):
        raise FeatureError(f"cannot resample from {from_rate!r} Hz to {to_rate!r} Hz")
    return Fraction(to_rate / from_rate).limit_denominator(MAX_RATIO_DENOMINATOR)


@lru_cache(maxsize=32)
def _band_gain(bins: int, cutoff_bin: int) -> np.ndarray:
    """Unity gain with a raised-cosine roll-off to zero at the cut-off: a brick wall would ring
    for the whole window, this taper keeps the filter's impulse response a few ms long."""
    gain = np.zeros(bins, np.float32)
    start = int(cutoff_bin * (1 - RESAMPLE_TAPER))
    gain[:start] = 1.0
    ramp = np.arange(start, cutoff_bin) - start
    gain[start:cutoff_bin] = 0.5 * (1 + np.cos(np.pi * ramp / max(cutoff_bin - start, 1)))
    return gain


def resample(samples: np.ndarray, from_rate: float, to_rate: float) -> np.ndarray:
    """Band-limited resampling in the frequency domain, for any rate ratio (44100 → 16000 too).

    The signal is extended at both ends by its point reflection (which keeps its value and
    slope continuous, so the edges do not click) and padded to a length whose FFT is fast and
    that maps to a whole number of output samples. The FFT's wrap-around then joins the far
    ends of the padding, away from the data. The spectrum is cut below the lower Nyquist
    frequency and transformed back. Output length: ceil(len * to_rate / from_rate), as scipy's
    resample_poly and librosa give.
    """
    x = np.asarray(samples, dtype=np.float32)
    ratio = _rate_ratio(from_rate, to_rate)
    if ratio == 1:
        return x.copy()
    if x.size < 2:
        raise FeatureError(f"cannot resample {x.size} sample(s)")
    up, down = ratio.numerator, ratio.denominator
    lead = down * -(-RESAMPLE_PAD // down)  # maps to a whole number of output samples
    length = down * smooth_at_least(-(-(x.size + 2 * lead) // down))
    padded = np.pad(x, (lead, length - x.size - lead), mode="reflect", reflect_type="odd")
    out_length = length // down * up
    spectrum = np.fft.rfft(padded)
    keep = min(length, out_length) // 2 + 1
    spectrum = spectrum[:keep] * _band_gain(keep, keep - 1)
    out = np.fft.irfft(spectrum, out_length) * np.float32(out_length / length)
    start = lead // down * up
    return out[start : start + -(-x.size * up // down)].astype(np.float32, copy=False)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa htk=False): linear to 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@lru_cache(maxsize=8)
def mel_filterbank(params: MelParams) -> np.ndarray:
    """(n_mels, n_fft//2 + 1) float32 triangles, equal to librosa.filters.mel's defaults
    (Slaney scale, each triangle scaled to unit area in Hz: norm="slaney")."""
    fft_hz = np.linspace(0.0, params.sample_rate / 2, params.n_fft // 2 + 1)
    mels = np.linspace(_hz_to_mel(params.fmin), _hz_to_mel(params.fmax), params.n_mels + 2)
    edges_hz = _mel_to_hz(mels)
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - fft_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    bank = weights.astype(np.float32)
    bank.setflags(write=False)  # cached and shared: nobody may change it in place
    return bank


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window, as scipy.signal.get_window("hann", n, fftbins=True) in librosa."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def log_mel(samples: np.ndarray, params: MelParams) -> np.ndarray:
    """(frames, n_mels) float32 log-mel energies in dB of mono samples at params.sample_rate.

    Equal (docs/inference.md) to librosa.power_to_db(librosa.feature.melspectrogram(y=y,
    sr, n_fft, hop_length, n_mels=, fmin=, fmax=), ref=1.0, amin=1e-10, top_db=None): centred
    frames with zero padding, periodic Hann window, power spectrum, Slaney mel filterbank.
    """
    y = np.asarray(samples, dtype=np.float32)
    half = params.n_fft // 2
    padded = np.pad(y, half)
    frames = np.lib.stride_tricks.sliding_window_view(padded, params.n_fft)[:: params.hop_length]
    spectrum = np.fft.rfft(frames * _hann(params.n_fft), axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    mel = power @ mel_filterbank(params).T
    return (10.0 * np.log10(np.maximum(mel, AMIN))).astype(np.float32, copy=False)


def context_vectors(logmel: np.ndarray, context_frames: int) -> np.ndarray:
    """(frames - context + 1, context * n_mels): each row is `context` consecutive frames,
    frame after frame (the DCASE 2020 task 2 baseline layout). No rows if too few frames."""
    frames, n_mels = logmel.shape
    if frames < context_frames:
        return np.empty((0, context_frames * n_mels), np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(logmel, (context_frames, n_mels))
    return windows.reshape(frames - context_frames + 1, context_frames * n_mels)


def audio_vectors(samples: np.ndarray, sample_rate: float, params: MelParams) -> np.ndarray:
    """Decoded audio (any rate, mono or multi-channel) → the model's input vectors."""
    mono = to_mono(samples)
    if not np.isfinite(mono).all():
        raise FeatureError("audio samples contain NaN or Inf")
    at_rate = resample(mono, sample_rate, params.sample_rate)
    if at_rate.size < params.min_samples():
        raise FeatureError(
            f"audio is {mono.size / sample_rate:.3f} s long; the model needs at least "
            f"{params.min_samples() / params.sample_rate:.3f} s for one "
            f"{params.context_frames}-frame vector"
        )
    return context_vectors(log_mel(at_rate, params), params.context_frames)


@dataclass(frozen=True)
class VibrationFeatures:
    """Severity figures of one tri-axial window; docs/inference.md defines each."""

    rms_accel_ms2: float  # vector RMS of the three axes, each without its mean (gravity)
    rms_velocity_mm_s: float  # 10-1000 Hz velocity RMS of the worst axis (ISO 10816)
    iso_zone: str  # ISO 10816-1 zone of rms_velocity_mm_s for the machine's class: "A" to "D"
    kurtosis: float  # largest per-axis kurtosis of acceleration: 3 for noise, 1.5 for a sine
    crest_factor: float  # largest per-axis peak / RMS of acceleration: sqrt(2) for a sine
    dominant_hz: float  # strongest line of the velocity spectrum in the 10-1000 Hz band

    def as_dict(self) -> dict:
        return asdict(self)


class SevereZone(NamedTuple):
    zone: str
    iso_class: str
    velocity_mm_s: float


_SEVERE = re.compile(r"ISO 10816 zone ([CD]) \(class (IV|I{1,3})\): velocity ([0-9.]+) mm/s")


def severe_text(zone: str, iso_class: str, velocity_mm_s: float) -> str:
    """The absolute limit's words in a result's why and an alert's reason."""
    return f"ISO 10816 zone {zone} (class {iso_class}): velocity {velocity_mm_s:.2f} mm/s"


def severe_zone(why: str) -> SevereZone | None:
    """What severe_text said, read back from a result's why (gateway status' class hint
    reads it from the device's state row, which keeps the latest why and no velocity)."""
    found = _SEVERE.search(why)
    if found is None:
        return None
    return SevereZone(found[1], found[2], float(found[3]))


def iso_zone(velocity_mm_s: float, iso_class: str = DEFAULT_ISO_CLASS) -> str:
    """ISO 10816-1 zone for a machine of `iso_class` (ISO_CLASSES); class I, small machines up
    to 15 kW: A <= 0.71 < B <= 1.8 < C <= 4.5 < D. A value on a boundary is the lower zone."""
    for upper, zone in zip(ISO_CLASSES[iso_class], "ABC", strict=True):
        if velocity_mm_s <= upper:
            return zone
    return "D"


def analysed_length(samples: int) -> int:
    """How many of an axis's samples the analysis keeps (centred_scaled says why)."""
    return samples if samples <= LONG_AXIS else smooth_at_most(samples)


def window_dtype(samples: int) -> type[np.floating]:
    """What a decoded window of `samples` per axis is held as. float32 for one analysed in
    segments: its samples are rounded to 24 bits (sensor ADCs give 16-24), every figure is
    still computed in float64 a segment at a time (segments.py), and the largest message's
    window is 8.4 MB instead of 16.8. A window of normal length stays float64, its figures
    bit for bit."""
    return np.float32 if is_segmented(analysed_length(samples)) else np.float64


def centred_scaled(data: np.ndarray, in_place: bool = False) -> tuple[np.ndarray, float]:
    """(3, n) acceleration without each axis's mean (gravity), divided by its peak, and that
    peak: 1e200 m/s^2 must give large figures, not inf. A float64 copy, or done in place
    (float32 stays float32, see window_dtype) and axis by axis so a long window costs one
    copy, not a handful of full-size temporaries.

    A window longer than LONG_AXIS keeps only its first smooth_at_most(n) samples: a prime
    length (699,007, the most a 4 MiB message holds, is one) sends pocketfft to Bluestein's
    algorithm, whose buffers took 100 MB per transform and 15 times as long."""
    keep = analysed_length(data.shape[1])
    accel = data[:, :keep] if in_place else np.array(data[:, :keep], dtype=np.float64)
    accel -= accel.mean(axis=1, keepdims=True, dtype=np.float64)  # a float32 sum drifts
    peak = max(float(np.max(np.abs(axis))) for axis in accel)
    if not np.isfinite(peak):
        raise FeatureError("vibration samples are too large to analyse")
    peak = peak or 1.0
    accel /= peak
    return accel, peak


def row_spectra(rows: np.ndarray, window: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """np.fft.rfft of each row (times window). Up to LONG_AXIS samples all rows in one call,
    as always: pocketfft's batched transform can differ from a single row's in the last bit,
    and a normal window's figures must not move. Beyond, one row at a time, so a long
    window's spectra (16 bytes a sample each) are never all held at once."""
    if rows.shape[1] <= LONG_AXIS:
        yield from np.fft.rfft(rows if window is None else rows * window, axis=1)
        return
    for row in rows:
        yield np.fft.rfft(row if window is None else row * window)


def by_columns(rows: list[np.ndarray]) -> np.ndarray:
    """The rows as one (len(rows), n) array laid out column by column (Fortran order), as
    numpy lays out spectrum[:, mask]: a sum along a row then adds in the same order as it
    always did (a C-ordered row is summed pairwise, which differs in the last bit)."""
    return np.stack(rows, axis=1).T


def sum_of_squares(accel: np.ndarray) -> np.ndarray:
    """x^2 + y^2 + z^2 per sample, one axis at a time (as np.sum(accel**2, axis=0) adds)."""
    total = accel[0] ** 2
    for axis in accel[1:]:
        total += axis**2
    return total


def _velocity_spectra(accel: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis one-sided velocity power spectra (m/s)^2 restricted to the ISO band, and their
    frequencies. Dividing the spectrum by j*2*pi*f integrates without the drift a running sum
    would accumulate; the Hann window keeps a strong line just outside the band out of it.
    One axis at a time: a full spectrum of a long window is 16 bytes a sample."""
    n = SEGMENT if is_segmented(accel.shape[1]) else accel.shape[1]
    window = _hann(n).astype(np.float64)
    hz = np.fft.rfftfreq(n, 1.0 / sample_rate)
    band = (hz >= ISO_BAND_HZ[0]) & (hz <= ISO_BAND_HZ[1])
    # Parseval for a windowed one-sided spectrum: each bin counts twice (its negative twin).
    scale = 2.0 / (n * n * np.mean(window**2))
    if is_segmented(accel.shape[1]):  # Welch: averaged over segments (inference/segments.py)
        power = np.stack([mean_power(axis, window, band) for axis in accel])
    else:
        power = by_columns([np.abs(spectrum[band]) ** 2
                            for spectrum in row_spectra(accel, window)])
    power = power * scale / (2 * np.pi * hz[band]) ** 2
    return power, hz[band]


def _dominant_hz(power: np.ndarray, hz: np.ndarray) -> float:
    """Peak of the axes' summed spectrum, refined between bins by a parabola on log power."""
    total = power.sum(axis=0)
    peak = int(np.argmax(total))
    if 0 < peak < total.size - 1 and total[peak] > 0:
        left, mid, right = np.log(np.maximum(total[peak - 1 : peak + 2], 1e-300))
        curve = left - 2 * mid + right
        shift = 0.5 * (left - right) / curve if curve < 0 else 0.0
        return float(hz[peak] + shift * (hz[1] - hz[0]))
    return float(hz[peak])


def _shape_figures(accel: np.ndarray) -> tuple[float, float]:
    """Largest per-axis kurtosis and crest factor; a silent axis has neither, so it is skipped."""
    kurtosis, crest = [], []
    segmented = is_segmented(accel.shape[1])  # then summed a block at a time
    for axis in accel:
        power = mean_of_powers(axis, 2) if segmented else np.mean(axis**2)
        if power > 0:
            fourth = mean_of_powers(axis, 4) if segmented else np.mean(axis**4)
            kurtosis.append(fourth / power**2)
            crest.append((max_abs(axis) if segmented else np.max(np.abs(axis))) / np.sqrt(power))
    if not kurtosis:
        return 0.0, 0.0
    return float(max(kurtosis)), float(max(crest))


def vibration_features(xyz: np.ndarray, sample_rate: float,
                       iso_class: str = DEFAULT_ISO_CLASS) -> VibrationFeatures:
    """Features of a (3, n) acceleration window in m/s^2 sampled at sample_rate Hz."""
    data = checked_vibration(xyz, sample_rate)
    return severity_of(*centred_scaled(data), sample_rate, iso_class)


def checked_vibration(xyz: np.ndarray, sample_rate: float) -> np.ndarray:
    """xyz as float64 (no copy if it is; nor of a float32 window analysed in segments, see
    window_dtype), FeatureError unless it can be analysed."""
    data = np.asarray(xyz)
    kept_float32 = data.dtype == np.float32 and data.ndim == 2 and \
        window_dtype(data.shape[1]) == np.float32
    if not kept_float32:
        data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] != 3:
        raise FeatureError(f"vibration must be (3, samples) for x, y, z, got {data.shape}")
    if not (np.isfinite(sample_rate) and sample_rate > 0) or not np.isfinite(data).all():
        raise FeatureError("vibration samples or sample rate are not finite positive numbers")
    seconds = data.shape[1] / sample_rate
    if seconds < MIN_VIBRATION_S or sample_rate <= 2 * ISO_BAND_HZ[0]:
        raise FeatureError(
            f"vibration window of {data.shape[1]} samples at {sample_rate:g} Hz ({seconds:.3f} s) "
            f"cannot resolve the {ISO_BAND_HZ[0]:g} Hz band edge; need at least "
            f"{MIN_VIBRATION_S:g} s at more than {2 * ISO_BAND_HZ[0]:g} Hz"
        )
    return data


def severity_of(accel: np.ndarray, peak: float, sample_rate: float,
                iso_class: str = DEFAULT_ISO_CLASS) -> VibrationFeatures:
    """vibration_features of a window already centred and scaled (centred_scaled)."""
    power, hz = _velocity_spectra(accel, sample_rate)
    velocity = float(np.sqrt(power.sum(axis=1).max())) * 1000.0 * peak
    kurtosis, crest = _shape_figures(accel)
    rms_accel = float(np.sqrt(mean_square_sum(accel) if is_segmented(accel.shape[1])
                              else np.mean(sum_of_squares(accel)))) * peak
    if not np.isfinite([velocity, rms_accel]).all():
        raise FeatureError("vibration samples are too large to analyse")
    return VibrationFeatures(
        rms_accel_ms2=rms_accel,
        rms_velocity_mm_s=velocity,
        iso_zone=iso_zone(velocity, iso_class),
        kurtosis=kurtosis,
        crest_factor=crest,
        dominant_hz=_dominant_hz(power, hz),
    )
