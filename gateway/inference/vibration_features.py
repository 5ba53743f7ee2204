"""Condition-monitoring features of one tri-axial vibration window, beside ISO 10816 severity.

ISO 10816 velocity says how hard a machine shakes; it says little about an early bearing
defect, whose impacts ring at kilohertz and barely move the velocity. So each window also
gets (docs/inference.md defines each):

- overall and high-frequency acceleration level (dB re 1 m/s^2), the high band from
  min(1 kHz, fs/4) to the Nyquist frequency;
- kurtosis and crest factor of acceleration (impacts), as logarithms;
- the envelope (modulation) spectrum of the high band on the axis with most high-frequency
  energy: modulation depth and its strongest line over its median (bearing defect rates);
- the 1x and 2x rotation lines of velocity (imbalance, misalignment), the speed taken as the
  strongest velocity line between 5 and 100 Hz (dB re 1 mm/s);
- the ISO velocity itself (dB re 1 mm/s).

Samples are scaled by their peak before any power is taken, so huge finite values (1e200)
give finite levels instead of overflowing; the levels add the scale back in dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gateway.inference.audio_features import FLOOR_DB, FLOOR_LOG, POWER_FLOOR, WindowFeatures
from gateway.inference.features import (
    DEFAULT_ISO_CLASS,
    FeatureError,
    VibrationFeatures,
    by_columns,
    centred_scaled,
    checked_vibration,
    row_spectra,
    severity_of,
    sum_of_squares,
)
from gateway.inference.segments import (
    SEGMENT,
    hann,
    is_segmented,
    mean_power,
    mean_square_sum,
    segments,
)

HIGH_BAND_HZ = 1000.0  # impacts ring above this (or above fs/4 for slowly sampled boxes)
ROTATION_SEARCH_HZ = (5.0, 100.0)
MODULATION_HZ = (5.0, 500.0)
NAMES = ("acceleration level", "high-frequency acceleration", "kurtosis", "crest factor",
         "envelope modulation", "envelope peak", "rotation 1x velocity", "rotation 2x velocity",
         "velocity 10-1000 Hz")
UNITS = ("dB", "dB", "log", "log", "dB", "dB", "dB", "dB", "dB")
DEFECT_HARMONICS = 3  # envelope lines at 1, 2 and 3 times a defect frequency
DEFECT_TOLERANCE = 0.02  # +-2 %: slip and the bearing's own slip move the lines a little
SPEED_SEARCH = (0.9, 1.03)  # around a configured shaft speed: slip lowers it, rarely above


@dataclass(frozen=True)
class Kinematics:
    """A device's configured shaft speed (0: taken from the spectrum), the defect
    frequencies of its bearing as orders (multiples) of the shaft speed, and its ISO 10816
    machine class (features.ISO_CLASSES), which sets the zones of its velocity."""

    shaft_hz: float = 0.0
    orders: tuple[tuple[str, float], ...] = ()  # ("outer race", 3.58), ...
    iso_class: str = DEFAULT_ISO_CLASS


def bearing_orders(balls: int, ball_mm: float, pitch_mm: float, contact_deg: float = 0.0
                   ) -> tuple[tuple[str, float], ...]:
    """Defect orders of a rolling bearing from its geometry (standard kinematics): outer
    race (BPFO), inner race (BPFI) and ball (twice the ball spin: a ball defect strikes both
    races each turn of the ball)."""
    r = ball_mm / pitch_mm * math.cos(math.radians(contact_deg))
    return (("outer race", balls / 2 * (1 - r)), ("inner race", balls / 2 * (1 + r)),
            ("ball", pitch_mm / ball_mm * (1 - r * r)))


def kinematics_of(machine) -> Kinematics:
    """Kinematics from a config [machines.<id>] section (config.MachineSection)."""
    orders: tuple[tuple[str, float], ...] = ()
    if machine.bearing_balls:
        orders = bearing_orders(machine.bearing_balls, machine.bearing_ball_mm,
                                machine.bearing_pitch_mm, machine.bearing_contact_deg)
    return Kinematics(float(machine.shaft_hz), orders, machine.iso_class)


def _db(power) -> float:
    return float(10.0 * np.log10(max(float(power), POWER_FLOOR)))


def _high_band(rate: float) -> tuple[float, float]:
    return min(HIGH_BAND_HZ, rate / 4), rate / 2 + 1


def _envelope(signal: np.ndarray, rate: float, low: float, high: float):
    """Modulation depth (dB), strongest envelope line over the median (dB), its Hz, and the
    envelope spectrum over its median (power ratio) with its frequencies. A long window's
    envelope spectra and depths are averaged over segments (inference/segments.py)."""
    if not is_segmented(signal.size):
        env_power, env_hz, depth_power = _envelope_spectrum(signal, rate, low, high)
        return _envelope_figures(env_power, env_hz, depth_power, rate)
    parts = (_envelope_spectrum(segment, rate, low, high) for segment in segments(signal))
    env_power, env_hz, depth_power = next(parts)
    count = 1
    for power, _, depth in parts:  # summed as they come: one segment's spectra at a time
        env_power, depth_power, count = env_power + power, depth_power + depth, count + 1
    return _envelope_figures(env_power / count, env_hz, depth_power / count, rate)


def _envelope_spectrum(signal: np.ndarray, rate: float, low: float, high: float
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Power spectrum of the high band's envelope relative to its mean, its frequencies and
    the envelope's mean square relative variation (the modulation depth as a power)."""
    hz = np.fft.rfftfreq(signal.size, 1.0 / rate)
    full = np.zeros(signal.size, np.complex128)
    full[: hz.size] = np.fft.rfft(signal)
    full[: hz.size] *= (hz >= low) & (hz < high)
    full[: hz.size] *= 2.0
    analytic = np.fft.ifft(full)
    del full  # a long window's spectra are 16 bytes a sample: one at a time
    envelope = np.abs(analytic)
    del analytic
    edge = envelope.size // 32
    envelope = envelope[edge : envelope.size - edge]
    mean = max(float(envelope.mean()), 1e-300)
    relative = envelope / mean - 1.0
    env_power = np.abs(np.fft.rfft(relative)) ** 2
    env_hz = np.fft.rfftfreq(relative.size, 1.0 / rate)
    return env_power, env_hz, float(np.mean(relative**2))


def _envelope_figures(env_power: np.ndarray, env_hz: np.ndarray, depth_power: float,
                      rate: float):
    band = (env_hz >= MODULATION_HZ[0]) & (env_hz <= min(MODULATION_HZ[1], rate / 4))
    depth = _db(depth_power)
    if band.sum() < 3:
        return depth, 0.0, 0.0, env_power * 0.0, env_hz
    inside = env_power[band]
    peak = int(np.argmax(inside))
    floor = max(float(np.median(inside)), POWER_FLOOR)
    return (depth, _db(inside[peak]) - _db(floor), float(env_hz[band][peak]),
            env_power / floor, env_hz)


def _defect_lines(ratio: np.ndarray, hz: np.ndarray, shaft_hz: float, order: float) -> float:
    """Envelope power over its median at 1-3x the defect frequency (the strongest bin
    within DEFECT_TOLERANCE of each), summed, in dB: how loud the defect's impact rate is."""
    total = 0.0
    for k in range(1, DEFECT_HARMONICS + 1):
        f = k * order * shaft_hz
        near = (hz >= f * (1 - DEFECT_TOLERANCE) - 0.5) & (hz <= f * (1 + DEFECT_TOLERANCE) + 0.5)
        if near.any():
            total += float(ratio[near].max())
    return _db(total / DEFECT_HARMONICS)


def _rotation_lines(accel: np.ndarray, rate: float, nominal_hz: float = 0.0
                    ) -> tuple[float, float, float]:
    """Speed (Hz) and the velocity power (mm/s)^2 of its 1x and 2x lines, all axes summed.
    The speed is the strongest line between 5 and 100 Hz, or near `nominal_hz` if given."""
    segmented = is_segmented(accel.shape[1])  # then Welch-averaged over segments
    n = SEGMENT if segmented else accel.shape[1]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    hz = np.fft.rfftfreq(n, 1.0 / rate)
    scale = 2.0 / (n * n * np.mean(window**2))
    integrate = (2 * np.pi * hz) ** 2
    powers = ((mean_power(axis, window) for axis in accel) if segmented
              else (np.abs(spectrum) ** 2 for spectrum in row_spectra(accel, window)))
    total = np.zeros_like(hz)  # 0 + x is x exactly: the sum is as sum(axis=0) gives it
    for power in powers:  # summed in the axes' order
        with np.errstate(divide="ignore", invalid="ignore"):
            velocity = np.where(hz > 0, power * scale / integrate, 0.0)
        total = total + velocity
    total = total * 1e6  # (mm/s)^2
    low, high = ROTATION_SEARCH_HZ
    if nominal_hz:  # a bin either side, so a short window's coarse bins still hold it
        low, high = nominal_hz * SPEED_SEARCH[0] - hz[1], nominal_hz * SPEED_SEARCH[1] + hz[1]
    search = np.flatnonzero((hz >= low) & (hz <= high))
    if search.size == 0:
        return 0.0, 0.0, 0.0
    first = int(search[np.argmax(total[search])])

    def line(index: int) -> float:
        return float(total[max(index - 1, 0) : index + 2].sum()) if index < total.size else 0.0

    second = int(np.argmin(np.abs(hz - 2 * hz[first])))
    return float(hz[first]), line(first), line(second)


def vibration_condition(xyz: np.ndarray, rate: float, severity: VibrationFeatures,
                        kinematics: Kinematics | None = None) -> WindowFeatures:
    """Condition features of a (3, n) acceleration window (m/s^2) whose ISO figures are
    `severity` (features.vibration_features). FeatureError when a value is not finite."""
    return condition_of(*centred_scaled(xyz), rate, severity, kinematics)


def vibration_analysis(xyz: np.ndarray, rate: float, kinematics: Kinematics | None = None
                       ) -> tuple[VibrationFeatures, WindowFeatures]:
    """vibration_features and vibration_condition of a window the caller gives up: it is
    centred and scaled in place, once for both (a long window's copy is 17 MB)."""
    data = checked_vibration(xyz, rate)
    scaled, peak = centred_scaled(data, in_place=data is xyz)
    kinematics = kinematics or Kinematics()
    severity = severity_of(scaled, peak, rate, kinematics.iso_class)
    return severity, condition_of(scaled, peak, rate, severity, kinematics)


def _high_band_power(scaled: np.ndarray, rate: float, low: float, high: float) -> np.ndarray:
    """Mean square of each axis in [low, high) Hz (Parseval, each bin counted twice); of a
    long window, from Hann-windowed spectra averaged over segments."""
    if is_segmented(scaled.shape[1]):
        window = hann()
        hz = np.fft.rfftfreq(SEGMENT, 1.0 / rate)
        in_band = (hz >= low) & (hz < high)
        scale = 2.0 / (SEGMENT * SEGMENT * np.mean(window**2))
        return np.array([mean_power(axis, window, in_band).sum() * scale for axis in scaled])
    hz = np.fft.rfftfreq(scaled.shape[1], 1.0 / rate)
    in_band = (hz >= low) & (hz < high)
    return np.sum(by_columns([np.abs(spectrum[in_band]) ** 2
                              for spectrum in row_spectra(scaled)]), axis=1
                  ) * 2 / (scaled.shape[1] ** 2)


def condition_of(scaled: np.ndarray, peak: float, rate: float, severity: VibrationFeatures,
                 kinematics: Kinematics | None = None) -> WindowFeatures:
    """vibration_condition of a window already centred and scaled (centred_scaled). With a
    bearing in `kinematics`, one more feature per defect: the envelope lines at its
    frequency (named with its order, e.g. "envelope at outer race 3.58x")."""
    kinematics = kinematics or Kinematics()
    level_scale = 20.0 * np.log10(peak)
    low, high = _high_band(rate)
    high_power = _high_band_power(scaled, rate, low, high)
    worst = int(np.argmax(high_power))
    depth, env_peak, env_hz, env_ratio, env_freqs = _envelope(scaled[worst], rate, low, high)
    rotation, first, second = _rotation_lines(scaled, rate, kinematics.shaft_hz)
    defects = [_defect_lines(env_ratio, env_freqs, rotation, order)
               for _, order in kinematics.orders]
    values = np.array([
        _db(mean_square_sum(scaled) if is_segmented(scaled.shape[1])
            else np.mean(sum_of_squares(scaled))) + level_scale,
        _db(high_power.sum()) + level_scale,
        float(np.log(max(severity.kurtosis, 1e-3))),
        float(np.log(max(severity.crest_factor, 1e-3))),
        depth, env_peak,
        _db(first) + level_scale,  # powers scale with peak^2: add 20 log10(peak)
        _db(second) + level_scale,
        20.0 * np.log10(max(severity.rms_velocity_mm_s, 1e-10)),
        *defects,
    ], np.float64)
    names = NAMES + tuple(f"envelope at {name} {order:.2f}x" for name, order in kinematics.orders)
    units = UNITS + ("dB",) * len(defects)
    if not np.isfinite(values).all():
        bad = [n for n, v in zip(names, values, strict=True) if not np.isfinite(v)]
        raise FeatureError(f"vibration features are not finite: {', '.join(bad)}")
    floors = np.array([FLOOR_DB if u == "dB" else FLOOR_LOG for u in units])
    return WindowFeatures(names, values, floors, units, float(values[0]),
                          {"rotation_hz": round(rotation, 2),
                           "envelope_peak_hz": [round(env_hz, 1)],
                           "defect_hz": [round(order * rotation, 1)
                                         for _, order in kinematics.orders],
                           "high_band_hz": [round(low, 1), round(min(high, rate / 2), 1)]})
