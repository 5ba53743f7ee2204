"""Condition-monitoring features of one audio window, as a vibration/acoustics engineer reads it.

Every value is a level in dB or a logarithm, so a change means the same on a loud and a quiet
machine; the per-device baseline (baseline.py) turns each into "how many of this device's own
spreads away from its normal". docs/inference.md defines each feature:

- per band (4 mel bands each): the median level over the window's frames (a door or a
  dropped tool lifts a few frames, not the median), the level of its loud frames (the 90th
  percentile frame: knocks that recur on one stroke in a few, liquid slugging, a loose part,
  lift it; one door in a window of 32 frames a second does not) and how much it varies
  from frame to frame (rattles and intermittent hiss vary, steady flow does not);
- tonal lines: the rotation speed (the strongest line between 10 and 70 Hz, or its half or
  third when clear lines stand there, refined between bins), the levels of its 1x, 2x, 3x
  lines and of 4x-8x together; the 50 and 60 Hz mains families (1x, 2x, 3x-10x);
- spectral flatness (tonal machine vs. noise);
- per envelope band (0.5-2 and 2-8 kHz): impulsiveness (kurtosis, and how far the loudest
  16 ms frame rises above the median frame: impacts, loose parts), the modulation depth, and
  the strongest envelope line above the envelope spectrum's floor, where bearing defects show
  as impacts at a (non-integer) order of the rotation speed. Kurtosis and modulation depth
  are taken per eighth of a second and the 3rd largest eighth kept: one room event fills one
  or two eighths and is ignored, impacts that recur fill more and still count.

All of it from one Hann-windowed FFT per second of signal and the log-mel frames the model
already needs: about 1.5 ms per 1 s window at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gateway.inference.features import FeatureError, MelParams, mel_filterbank, smooth_at_least

MELS_PER_BAND = 4
SEGMENT_S = 1.0  # tonal and envelope analysis per second of signal (1 Hz lines) ...
MAX_SEGMENTS = 8  # ... averaged over at most the first 8 s, so cost stays bounded
ROTATION_HZ = (10.0, 70.0)  # searched range of the shaft speed (2- to 8-pole motors)
MAINS_HZ = (50.0, 60.0)
IMPULSE_FRAME_S = 0.016  # frames for the loudest-frame figure
ENVELOPE_BANDS = ((500.0, 2000.0), (2000.0, 8000.0))
MODULATION_HZ = (5.0, 500.0)  # where bearing and stroke rates sit in the envelope spectrum
SUBHARMONIC_DB = 10.0  # lines at 1/2 (1/3, 2/3) of the strongest, this close to it, ...
LINE_OVER_FLOOR_DB = 10.0  # ... and this far above their neighbourhood: the shaft speed
BLOCKS = 8  # transient-robust statistics: per eighth of each second ...
KEEP_BLOCK = 3  # ... the 3rd largest of the eighths kept (ignores one or two room events)
LOUD_FRAMES_PERCENTILE = 90.0
# The plain spectrum, a second view beside the condition features (baseline.py scores it
# apart): mean power in 32 log-spaced bands from 50 Hz to 8 kHz, dB. Finer than the mel
# groups below 1 kHz (a band is ~17 % wide: 9 Hz at 50 Hz, 170 Hz at 1 kHz).
SPECTRUM_HZ = (50.0, 8000.0)
SPECTRUM_BANDS = 32
SPECTRUM_PREFIX = "spectrum "
POWER_FLOOR = 1e-20  # -200 dB: keeps the logs finite on digital silence
# Smallest spread the baseline may assume per kind of feature: below it a change is round-off.
FLOOR_DB, FLOOR_LOG, FLOOR_HZ = 0.5, 0.05, 0.3


@dataclass(frozen=True)
class WindowFeatures:
    """One window's condition features: `names[i]` says what `values[i]` is."""

    names: tuple[str, ...]
    values: np.ndarray  # float64, finite
    floors: np.ndarray  # smallest credible spread of each feature, in its unit
    units: tuple[str, ...]  # "dB", "log" or "Hz": how a change is told to people
    level_db: float  # overall level (dB full scale): tells a stopped machine from a running one
    context: dict  # what the "why" needs: rotation_hz, envelope peak frequency per band


def _db(power) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(power, POWER_FLOOR))


@lru_cache(maxsize=8)
def band_names(params: MelParams) -> tuple[str, ...]:
    """'0.2-0.5 kHz' for each group of MELS_PER_BAND mel bands, from the filterbank's edges."""
    bank = mel_filterbank(params)
    hz = np.linspace(0.0, params.sample_rate / 2, bank.shape[1])
    names = []
    for start in range(0, bank.shape[0], MELS_PER_BAND):
        used = np.flatnonzero(bank[start:start + MELS_PER_BAND].sum(axis=0) > 0)
        low, high = (hz[used[0]], hz[used[-1]]) if used.size else (0.0, 0.0)
        names.append(f"{low / 1000:.1f}-{high / 1000:.1f} kHz")
    return tuple(names)


def _band_features(logmel_db: np.ndarray, params: MelParams):
    """Per band: the median frame's level, the frame-to-frame spread, the loud frames' level
    (all dB); the flatness."""
    power = 10.0 ** (logmel_db.astype(np.float64) / 10.0)
    bands = power.shape[1] // MELS_PER_BAND * MELS_PER_BAND
    grouped = power[:, :bands].reshape(power.shape[0], -1, MELS_PER_BAND).sum(axis=2)
    if bands < power.shape[1]:
        grouped = np.hstack([grouped, power[:, bands:].sum(axis=1, keepdims=True)])
    levels = _db(grouped)
    flat = np.exp(np.mean(np.log(np.maximum(power, POWER_FLOOR)), axis=1)) / np.maximum(
        power.mean(axis=1), POWER_FLOOR)
    # The level is the median frame's: a room event (a door, a dropped tool) lifts a few
    # frames and so the mean, not the median. The variation keeps every frame: it is there
    # for the intermittent (rattles), as is the flatness, and so are the loud frames: the
    # median hides knocks in a fifth of the frames, the 90th percentile frame hears them.
    return (np.median(levels, axis=0), levels.std(axis=0), float(np.mean(_db(flat))),
            np.percentile(levels, LOUD_FRAMES_PERCENTILE, axis=0))


def _segments(y: np.ndarray, rate: int) -> np.ndarray:
    length = min(y.size, int(SEGMENT_S * rate))
    count = min(MAX_SEGMENTS, y.size // length)
    return y[: count * length].reshape(count, length)


class _Spectrum:
    """Averaged power spectrum of the segments (1 Hz bins for 1 s) and line levels in it."""

    def __init__(self, segments: np.ndarray, rate: int):
        n = segments.shape[1]
        # One FFT serves both: band signals come from the plain spectrum (a window would put
        # its own shape into the envelope), lines from the Hann-windowed one (little leakage
        # between 1 Hz bins), which for a periodic Hann is exactly the plain spectrum
        # convolved with (-1/4, 1/2, -1/4).
        self.complex = np.fft.rfft(segments, axis=1)
        padded = np.pad(self.complex, ((0, 0), (1, 1)))
        padded[:, 0] = np.conj(self.complex[:, 1])  # X[-1] = conj(X[1]) for a real signal
        windowed = 0.5 * padded[:, 1:-1] - 0.25 * (padded[:, :-2] + padded[:, 2:])
        self.power = np.mean(windowed.real**2 + windowed.imag**2, axis=0) / (n * n)
        self.hz_per_bin = rate / n
        self.n = n

    def line(self, hz) -> np.ndarray:
        """Power of the line(s) at hz: the three bins around it (a Hann main lobe)."""
        centre = np.rint(np.asarray(hz, dtype=np.float64) / self.hz_per_bin).astype(int)
        centre = np.clip(centre, 1, self.power.size - 2)
        return self.power[centre - 1] + self.power[centre] + self.power[centre + 1]


def _refined_bin(power: np.ndarray, near: int) -> float:
    """The peak bin around `near` refined between bins by a parabola on the log power: the
    k-th harmonic sits at k times the speed, and a speed rounded to one bin put the 8th line
    up to 4 bins off, so a slow drift of the speed moved the 4-8x levels by several dB."""
    centre = int(np.clip(near - 1 + np.argmax(power[near - 1 : near + 2]), 1, power.size - 2))
    left, mid, right = np.log(np.maximum(power[centre - 1 : centre + 2], POWER_FLOOR))
    curve = left - 2 * mid + right
    shift = float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5)) if curve < 0 else 0.0
    return centre + shift


def _rotation_hz(spectrum: _Spectrum) -> float:
    """The shaft speed: the strongest line between 10 and 70 Hz (a peak inside the range, not
    the skirt of one beyond it), or its half or third when clear lines stand at every lower
    multiple of that (a compressor's 2x or 3x stroke line is often as strong as the 1x: the
    strongest alone flipped between them from window to window, and every line level with
    it). (A harmonic comb scored over all candidates was tried: it jumped between f and f/2.)"""
    per_bin = spectrum.hz_per_bin
    low = max(int(np.ceil(ROTATION_HZ[0] / per_bin)), 1)
    high = min(int(ROTATION_HZ[1] / per_bin), spectrum.power.size - 2)
    if high < low + 2:
        return ROTATION_HZ[0]
    lines = spectrum.line(np.arange(low - 1, high + 2) * per_bin)  # one bin beyond each end
    inner = lines[1:-1]
    peaks = (inner >= lines[:-2]) & (inner >= lines[2:])
    strongest = int(np.argmax(np.where(peaks, inner, 0.0))) if peaks.any() else \
        int(np.argmax(inner))
    hz = _refined_bin(spectrum.power, low + strongest) * per_bin
    for order in (3, 2):
        below = [k * hz / order for k in range(1, order)]
        if below[0] >= ROTATION_HZ[0] and all(
                _stands(spectrum, f, float(_db(inner[strongest])) - SUBHARMONIC_DB)
                for f in below):
            return hz / order
    return float(hz)


def _stands(spectrum: _Spectrum, hz: float, at_least_db: float) -> bool:
    """A clear line at hz: its strongest bin within one of it is at least `at_least_db` and
    LINE_OVER_FLOOR_DB above the median bin of the 8 on either side (the local floor)."""
    near = int(np.rint(hz / spectrum.hz_per_bin))
    if near < 10 or near + 10 >= spectrum.power.size:
        return False
    line = float(_db(spectrum.power[near - 1 : near + 2].max()))
    around = np.r_[spectrum.power[near - 9 : near - 1], spectrum.power[near + 2 : near + 10]]
    # at_least_db is of a line (3 bins): its strongest bin alone may be up to 4.8 dB below
    return line >= max(at_least_db - 4.8, float(_db(np.median(around))) + LINE_OVER_FLOOR_DB)


def _tonal_features(spectrum: _Spectrum) -> tuple[list[float], float]:
    rotation = _rotation_hz(spectrum)
    line = spectrum.line
    values = [*_db(line([rotation, 2 * rotation, 3 * rotation])),
              float(_db(line(rotation * np.arange(4, 9)).sum()))]
    for mains in MAINS_HZ:
        values += [float(_db(line(mains))), float(_db(line(2 * mains))),
                   float(_db(line(mains * np.arange(3, 11)).sum()))]
    return [float(v) for v in values], rotation


@lru_cache(maxsize=1)
def _spectrum_edges() -> tuple[tuple[float, float], ...]:
    edges = np.geomspace(SPECTRUM_HZ[0], SPECTRUM_HZ[1], SPECTRUM_BANDS + 1)
    return tuple(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


@lru_cache(maxsize=8)
def _spectrum_bins(per_bin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per band: its first and last+1 bin, and the bin nearest its centre."""
    edges = np.array(_spectrum_edges())
    first = np.ceil(edges[:, 0] / per_bin).astype(int)
    last = np.ceil(edges[:, 1] / per_bin).astype(int)
    nearest = np.rint(np.sqrt(edges[:, 0] * edges[:, 1]) / per_bin).astype(int)
    return first, last, nearest


def _spectrum_levels(spectrum: _Spectrum) -> np.ndarray:
    """Mean power density (per Hz) of the bins in each log-spaced band, dB; a band narrower
    than a bin takes the bin nearest its centre."""
    first, last, nearest = _spectrum_bins(spectrum.hz_per_bin)
    size = spectrum.power.size
    first, last, nearest = (np.minimum(i, size - 1) for i in (first, last, nearest))
    running = np.concatenate(([0.0], np.cumsum(spectrum.power)))
    count = last - first
    mean = (running[last] - running[first]) / np.maximum(count, 1)
    # per Hz: a bin of a shorter window is wider and holds more of a noise's power
    return _db(np.where(count > 0, mean, spectrum.power[nearest]) / spectrum.hz_per_bin)


def _envelope(spectrum: _Spectrum, low: float, high: float) -> tuple[np.ndarray, float]:
    """The band's envelope per segment and its sample rate. The band's bins, moved down to
    start at 0 Hz, are transformed back on their own: the magnitude of that complex signal
    is the envelope (a shift in frequency does not change it), at a rate of the band's
    width instead of the full rate, so the inverse FFT is a fraction of the full length."""
    per_bin = spectrum.hz_per_bin
    first = max(int(np.ceil(low / per_bin)), 1)
    last = min(int(np.ceil(high / per_bin)), spectrum.complex.shape[1])
    size = smooth_at_least(max(2 * int(MODULATION_HZ[1] / per_bin) + 2, last - first))
    band = np.zeros((spectrum.complex.shape[0], size), np.complex128)
    band[:, : last - first] = spectrum.complex[:, first:last]
    return np.abs(np.fft.ifft(band, axis=1)), size * per_bin


def _trim(signal: np.ndarray) -> np.ndarray:
    """Without the first and last 1/32: where the FFT's wrap-around joins the segment's ends."""
    edge = signal.shape[1] // 32
    return signal[:, edge : signal.shape[1] - edge]


def _blocks(values: np.ndarray) -> np.ndarray:
    """(segments, samples) as (segments, BLOCKS, samples // BLOCKS): each second in eighths."""
    size = values.shape[1] // BLOCKS
    return values[:, : size * BLOCKS].reshape(values.shape[0], BLOCKS, size)


def _kept(per_block: np.ndarray) -> np.ndarray:
    """Per segment, the KEEP_BLOCK-th largest of its eighths' values."""
    return np.sort(per_block, axis=1)[:, -KEEP_BLOCK]


def _impulses(envelope: np.ndarray, rate: float) -> list[float]:
    """Impulsiveness of one band from its envelope: kurtosis of the band signal (log; the
    envelope's E[a^4]/E[a^2]^2 is 2/3 of it) and how far the loudest 16 ms frame rises over
    the median frame (dB)."""
    power = envelope**2
    parts = _blocks(power)
    kurtosis = _kept(np.mean(parts**2, axis=2) / np.maximum(np.mean(parts, axis=2),
                                                            POWER_FLOOR) ** 2)
    log_kurtosis = float(np.log(max(float(np.mean(kurtosis)) / 2 * 3, 1e-3)))
    frame = max(int(IMPULSE_FRAME_S * rate), 1)
    usable = power.shape[1] // frame * frame
    if usable < 2 * frame:
        return [log_kurtosis, 0.0]
    frames = power[:, :usable].reshape(power.shape[0], -1, frame).mean(axis=2)
    peaks = _db(np.max(frames, axis=1)) - _db(np.median(frames, axis=1))
    return [log_kurtosis, float(np.mean(peaks))]


def _envelope_features(spectrum: _Spectrum, rate: int) -> tuple[list[float], list[float]]:
    """Per band: impulsiveness (_impulses), modulation depth (dB) and the strongest envelope
    line over the envelope spectrum's median (dB), with that line's frequency."""
    values, peaks_hz = [], []
    for low, high in ENVELOPE_BANDS:
        envelope, envelope_rate = _envelope(spectrum, low, min(high, rate / 2))
        envelope = _trim(envelope)
        values += _impulses(envelope, envelope_rate)
        mean = np.maximum(envelope.mean(axis=1, keepdims=True), 1e-300)
        relative = envelope / mean - 1.0
        depth = np.mean(_kept(np.mean(_blocks(relative) ** 2, axis=2)))
        env_spectrum = np.mean(np.abs(np.fft.rfft(relative, axis=1)) ** 2, axis=0)
        hz = np.fft.rfftfreq(envelope.shape[1], 1.0 / envelope_rate)
        band = (hz >= MODULATION_HZ[0]) & (hz <= MODULATION_HZ[1])
        if band.sum() < 3:
            values += [float(_db(depth)), 0.0]
            peaks_hz.append(0.0)
            continue
        inside = env_spectrum[band]
        peak = int(np.argmax(inside))
        values += [float(_db(depth)), float(_db(inside[peak]) - _db(np.median(inside)))]
        peaks_hz.append(float(hz[band][peak]))
    return values, peaks_hz


@lru_cache(maxsize=8)
def _names(params: MelParams) -> tuple[tuple[str, ...], tuple[str, ...]]:
    bands = band_names(params)
    names = [f"band {b} {what}" for what in ("level", "variation", "loud frames")
             for b in bands]
    units = ["dB"] * (3 * len(bands))
    names += ["flatness", "rotation 1x line", "rotation 2x line", "rotation 3x line",
              "rotation 4-8x lines"]
    units += ["dB", "dB", "dB", "dB", "dB"]
    for mains in MAINS_HZ:
        names += [f"{mains:g} Hz hum", f"{2 * mains:g} Hz hum",
                  f"{3 * mains:g}-{10 * mains:g} Hz hum"]
        units += ["dB"] * 3
    for low, high in ENVELOPE_BANDS:
        label = f"{low / 1000:g}-{high / 1000:g} kHz"
        names += [f"impulsiveness {label}", f"impact peaks {label}",
                  f"envelope {label} modulation", f"envelope {label} peak"]
        units += ["log", "dB", "dB", "dB"]
    names += ["overall level"]
    units += ["dB"]
    names += [f"{SPECTRUM_PREFIX}{low:.0f}-{high:.0f} Hz" for low, high in _spectrum_edges()]
    units += ["dB"] * SPECTRUM_BANDS
    return tuple(names), tuple(units)


_FLOORS = {"dB": FLOOR_DB, "log": FLOOR_LOG, "Hz": FLOOR_HZ}


@lru_cache(maxsize=8)
def _floors(units: tuple[str, ...]) -> np.ndarray:
    floors = np.array([_FLOORS[u] for u in units])
    floors.setflags(write=False)  # cached and shared
    return floors


def audio_condition(mono: np.ndarray, logmel_db: np.ndarray, params: MelParams
                    ) -> WindowFeatures:
    """Features of a mono window at params.sample_rate and its log-mel frames (dB).
    FeatureError if the window is too short or a feature is not finite."""
    y = np.asarray(mono, dtype=np.float64)
    if y.size < 0.2 * params.sample_rate:
        raise FeatureError(f"audio of {y.size} samples is too short for condition features")
    return combined_condition(y, logmel_db, float(np.sum(y**2)), y.size, params)


def combined_condition(head: np.ndarray, logmel_db: np.ndarray, sum_squares: float,
                       samples: int, params: MelParams) -> WindowFeatures:
    """The features from what a window analysed piece by piece keeps of itself: `head`, its
    first MAX_SEGMENTS seconds at the model rate (all the tonal and envelope analysis ever
    reads), the log-mel frames of all its pieces, and the sum of its squared samples with
    their count (the overall level). For a window in one piece this is audio_condition."""
    rate = params.sample_rate
    y = np.asarray(head, dtype=np.float64)
    levels, variation, flatness, loud = _band_features(logmel_db, params)
    spectrum = _Spectrum(_segments(y, rate), rate)
    tonal, rotation = _tonal_features(spectrum)
    envelope, envelope_hz = _envelope_features(spectrum, rate)
    level = float(_db(sum_squares / samples))
    values = np.array([*levels, *variation, *loud, flatness, *tonal, *envelope, level,
                       *_spectrum_levels(spectrum)], np.float64)
    names, units = _names(params)
    floors = _floors(units)
    if not np.isfinite(values).all():
        bad = [n for n, v in zip(names, values, strict=True) if not np.isfinite(v)]
        raise FeatureError(f"audio features are not finite: {', '.join(bad[:5])}")
    return WindowFeatures(names, values, floors, units, level,
                          {"rotation_hz": round(rotation, 2),
                           "envelope_peak_hz": [round(h, 1) for h in envelope_hz]})
