"""The healthy machine as the microphone hears it: compressor, tandem partner, fans, pump.

A reciprocating compressor's revolution is a set of events at crank angles: each cylinder's
discharge reed slams shut at top dead centre, its suction reed at bottom dead centre, and a gas
pulse leaves the head. Reed slams ring the valve plate and the shell's resonances; the gas
pulses give the low "chuffing" harmonics; the discharge flow noise swells with each pulse. A
scroll compresses continuously, so its revolution is a smoother harmonic series with only a
faint discharge-valve tick. The motor adds magnetic hum at twice the mains frequency and a
slot-passing whine at rotor bars times the shaft rate. Cylinders are never perfectly alike
(fixed per unit) and no two strokes are (a little jitter per stroke).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .dsp import (
    band,
    db,
    harmonic_table,
    lookup,
    resonance,
    rfft_freqs,
    shape_rms,
    shaped_noise,
    table_index,
)
from .frame import Frame
from .keys import rng_for
from .unit import Unit

# RMS levels in dBFS at 1 m from the source, before the box's gain (a MEMS mic at about
# -26 dBFS for 94 dB SPL); a running compressor sums to about -32 dBFS at 1 m.
LEVEL_DB = {
    "gas": -35.0, "clicks": -38.0, "scroll_clicks": -52.0, "flow": -39.0, "scroll_flow": -37.0,
    "hum": -46.0, "partner": -2.5, "fan_tone": -47.0, "fan_air": -41.0,
    "pump_tone": -48.0, "pump_flow": -49.0, "pump_hum": -56.0, "equalise": -47.0,
}


@dataclass(frozen=True)
class CompressorTables:
    length: int
    gas: np.ndarray  # gas pulses, unbalanced masses, slot whine (unit RMS)
    clicks: np.ndarray  # reed slams ringing the valve plate and shell (unit RMS)
    flow_env: np.ndarray  # swell of discharge flow noise over a revolution (mean 1)
    combined: np.ndarray  # gas + clicks at their levels, for the partner compressor
    hum: np.ndarray  # motor magnetic hum over one mains period (unit RMS)


def housing_response(unit: Unit, freqs: np.ndarray) -> np.ndarray:
    """How shell and head resonances colour what leaves the compressor (complex)."""
    gains = (1.0, 0.8, 0.6)
    out = np.full(freqs.shape, 0.35, dtype=np.complex128)
    for f0, q, g in zip(unit.housing_hz, unit.housing_q, gains, strict=True):
        out += g * resonance(freqs, f0, q)
    return out


def _unit_rms(coeffs: np.ndarray) -> np.ndarray:
    return coeffs / math.sqrt(float(np.sum(np.abs(coeffs[1:]) ** 2)) / 2.0 + 1e-30)


def cylinders(unit: Unit) -> tuple[np.ndarray, np.ndarray]:
    """Crank angle (in revolutions) and strength of each cylinder: close, never identical."""
    rng = rng_for("cylinders", unit.device_id, unit.seed)
    count = unit.cylinders
    crank = np.arange(count) / count + rng.normal(0.0, 0.004, count)
    return crank, 1.0 + 0.06 * rng.standard_normal(count)


def _gas_coeffs(unit: Unit, k: np.ndarray, fk: np.ndarray) -> np.ndarray:
    rng = rng_for("gas", unit.device_id, unit.seed)
    crank, strength = cylinders(unit)
    steer = np.exp(-2j * np.pi * np.outer(k, crank)) @ strength
    width = 0.18 / unit.cylinders if unit.compressor == "recip" else 0.05
    pulse = np.exp(-2.0 * (np.pi * k * width) ** 2)
    mix = rng.uniform(0.6, 1.4, k.size) * np.exp(1j * rng.uniform(0, 0.4, k.size))
    coeffs = _unit_rms(steer * pulse * mix * housing_response(unit, fk) * band(fk, 0, 1500, 1))
    coeffs[1:3] += np.array([0.25, 0.12]) * np.exp(1j * rng.uniform(0, 2 * np.pi, 2))
    if unit.rotor_bars < k.size:
        coeffs[unit.rotor_bars] += 0.08  # slot-passing whine of the motor
    return _unit_rms(coeffs)


def _click_coeffs(unit: Unit, k: np.ndarray, fk: np.ndarray) -> np.ndarray:
    crank, strength = cylinders(unit)
    if unit.compressor == "recip":  # discharge slam at TDC, suction slam at BDC, discharge opens
        events = [(crank, strength), (crank + 0.5, 0.55 * strength), (crank - 0.07, 0.3 * strength)]
    else:
        events = [(crank, strength)]
    steer = sum(np.exp(-2j * np.pi * np.outer(k, at)) @ amp for at, amp in events)
    plate = resonance(fk, unit.valve_hz, 10.0) + 0.5 * resonance(fk, 1.6 * unit.valve_hz, 14.0)
    shell = 0.5 + housing_response(unit, fk)
    return _unit_rms(steer * plate * shell * band(fk, 400, np.inf, 2))


def _flow_envelope(unit: Unit, length: int) -> np.ndarray:
    x = np.arange(length + 1) / length
    if unit.compressor == "scroll":
        return 1.0 + 0.15 * np.cos(2 * np.pi * x)
    crank, strength = cylinders(unit)
    env = np.full(x.shape, 0.4)
    for at, amp in zip(crank, strength, strict=True):
        dist = (x - at - 0.03 + 0.5) % 1.0 - 0.5
        env += amp * np.exp(-0.5 * (dist * unit.cylinders / 0.07) ** 2)
    return env / env.mean()


def _hum_table(unit: Unit, length: int) -> np.ndarray:
    rng = rng_for("hum", unit.device_id, unit.seed)
    coeffs = np.zeros(9, dtype=np.complex128)
    coeffs[[2, 3, 4, 6, 8]] = np.array([1.0, 0.05, 0.35, 0.2, 0.1]) * np.exp(
        1j * rng.uniform(0, 2 * np.pi, 5))
    return harmonic_table(_unit_rms(coeffs), length)


@lru_cache(maxsize=128)
def compressor_tables(unit: Unit, rate: int) -> CompressorTables:
    nominal = unit.sync_hz * (1.0 - unit.slip)
    harmonics = max(4, int(0.45 * rate / nominal))
    length = max(1024, 1 << math.ceil(math.log2(8 * harmonics)))
    k = np.arange(harmonics + 1)
    fk = k * nominal
    gas = harmonic_table(_gas_coeffs(unit, k, fk), length)
    clicks = harmonic_table(_click_coeffs(unit, k, fk), length)
    click_db = LEVEL_DB["clicks" if unit.compressor == "recip" else "scroll_clicks"]
    combined = db(LEVEL_DB["gas"]) * gas + db(click_db) * clicks
    return CompressorTables(length, gas, clicks, _flow_envelope(unit, length), combined,
                            _hum_table(unit, 1024))


@lru_cache(maxsize=128)
def flow_shape(unit: Unit, n: int, rate: int) -> np.ndarray:
    """Spectrum of discharge and suction flow noise radiated by the shell."""
    freqs = rfft_freqs(n, rate)
    shape = np.abs(band(freqs, 300, 7000, 1) * (0.4 + housing_response(unit, freqs)))
    return shape / shape_rms(shape)


def stroke_jitter(frame: Frame, phase: np.ndarray) -> np.ndarray:
    """No two strokes slam their reeds equally hard: a gain per cylinder stroke."""
    per_rev = frame.unit.cylinders
    slot = np.floor((phase + 0.15 / per_rev) * per_rev).astype(np.intp)
    slot -= slot[0]
    rng = rng_for("strokes", frame.unit.device_id, frame.unit.seed, frame.key)
    return np.exp(0.12 * rng.standard_normal(int(slot[-1]) + 1))[slot]


@dataclass(frozen=True)
class CompressorSound:
    monitored: np.ndarray  # the compressor the box watches (what faults change)
    partner: np.ndarray  # its tandem partner when staged on, else zeros


def _start_boost(since_s: float) -> float:
    """Oil foams and liquid boils off in the first seconds after a start: louder, normal."""
    return 1.0 + 0.8 * math.exp(-since_s / 8.0) if since_s < 60.0 else 1.0


def _partner(frame: Frame, tables: CompressorTables, flow: np.ndarray) -> np.ndarray:
    if not frame.op.partner_running:
        return np.zeros(frame.n)
    idx = table_index(frame.phase(frame.op.partner_hz, "partner"), tables.length)
    level = db(LEVEL_DB["partner"]) * (0.75 + 0.5 * frame.op.head)
    flow_db = LEVEL_DB["flow" if frame.unit.compressor == "recip" else "scroll_flow"]
    return level * (lookup(tables.combined, idx) + db(flow_db) * flow * lookup(tables.flow_env,
                                                                                 idx))


def compressor_sound(frame: Frame, shaft_phase: np.ndarray) -> CompressorSound:
    """Both compressors at the microphone's distance; silence when stopped."""
    unit, op = frame.unit, frame.op
    if not op.running:
        return CompressorSound(np.zeros(frame.n), np.zeros(frame.n))
    tables = compressor_tables(unit, frame.rate)
    idx = table_index(shaft_phase, tables.length)
    recip = unit.compressor == "recip"
    boost = _start_boost(op.since_change_s)
    gas = db(LEVEL_DB["gas"]) * (0.75 + 0.5 * op.head) * lookup(tables.gas, idx)
    clicks = lookup(tables.clicks, idx) * stroke_jitter(frame, shaft_phase)
    clicks *= db(LEVEL_DB["clicks" if recip else "scroll_clicks"]) * (0.6 + 0.8 * op.head) * boost
    rng = rng_for("flow", unit.device_id, unit.seed, frame.key)
    flow = shaped_noise(rng, frame.n, flow_shape(unit, frame.n, frame.rate), 1.0)
    flow_level = db(LEVEL_DB["flow" if recip else "scroll_flow"]) * (0.8 + 0.4 * op.head) * boost
    hum_idx = table_index(frame.mains_phase(), 1024)
    hum = db(LEVEL_DB["hum"]) * lookup(tables.hum, hum_idx)
    near = 1.0 / max(unit.mic_distance_m, 0.3)
    monitored = gas + clicks + flow_level * flow * lookup(tables.flow_env, idx) + hum
    return CompressorSound(near * monitored, near * _partner(frame, tables, flow))
