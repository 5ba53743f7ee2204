"""One compressor's physics: its family (reciprocating, scroll, screw), induction motor,
bearing geometry, housing modes and condenser fan, drawn once per unit; and the sound it makes
at an operating point, as named parts (what travels through the housing, what through the air)
so that a fault can add to the right one.

Speeds follow the motor: synchronous speed 2 * mains / poles, less a slip proportional to
the load, so the shaft speed drifts with the load within a window and between windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.plant_sounds import signals as sg

FAMILIES = ("reciprocating", "scroll", "screw")


@dataclass(frozen=True)
class Bearing:
    """A rolling-element bearing on the motor shaft (inner race turning)."""

    balls: int
    ball_mm: float
    pitch_mm: float
    contact_deg: float

    def orders(self) -> dict[str, float]:
        """Defect frequencies as orders of the shaft speed (the textbook kinematics)."""
        ratio = self.ball_mm / self.pitch_mm * np.cos(np.radians(self.contact_deg))
        return {"bpfo": self.balls / 2 * (1 - ratio), "bpfi": self.balls / 2 * (1 + ratio),
                "bsf": self.pitch_mm / (2 * self.ball_mm) * (1 - ratio ** 2),
                "ftf": (1 - ratio) / 2}


@dataclass(frozen=True)
class Machine:
    family: str
    mains_hz: float
    poles: int
    rated_slip: float
    cylinders: int            # reciprocating: cylinders; scroll: 1; screw: male rotor lobes
    order_amps: tuple         # rotation harmonics 1x.. (relative)
    order_phases: tuple
    pulse_amps: tuple         # harmonics of the pulsation (cylinders x speed, lobe pass)
    hum_amps: tuple           # 2x mains and its harmonics
    rotor_slots: int
    housing: tuple            # (f0 Hz, q, gain) of the shell's modes
    valve_modes: tuple        # (f0 Hz, damping, weight): what a valve impact rings
    fan_blades: int           # 0: no condenser fan at this unit
    fan_poles: int
    bearing: Bearing
    flow_corner_hz: float     # where the gas flow noise rolls off
    levels: tuple             # dB of the parts: orders, pulsation, valves, hum, fan, flow

    @property
    def sync_hz(self) -> float:
        return 2 * self.mains_hz / self.poles


def draw(rng: np.random.Generator) -> Machine:
    family = FAMILIES[int(rng.integers(3))]
    poles = 4 if family == "reciprocating" and rng.random() < 0.5 else 2
    cylinders = {"reciprocating": int(rng.choice([1, 2, 4, 6])), "scroll": 1,
                 "screw": int(rng.choice([4, 5]))}[family]
    n_orders = {"reciprocating": 12, "scroll": 6, "screw": 8}[family]
    decay = rng.uniform(0.6, 1.4)
    order_amps = tuple(float(rng.lognormal(0, 0.5) / k ** decay) for k in range(1, n_orders + 1))
    n_pulse = {"reciprocating": 10, "scroll": 4, "screw": 6}[family]
    pulse_amps = tuple(float(rng.lognormal(0, 0.6) / k ** rng.uniform(0.3, 1.0))
                       for k in range(1, n_pulse + 1))
    housing = tuple((float(f), float(rng.uniform(4, 25)), float(rng.uniform(2, 12)))
                    for f in np.sort(rng.uniform(250, 6500, int(rng.integers(3, 7)))))
    valve_modes = tuple((float(rng.uniform(lo, hi)), float(rng.uniform(0.01, 0.05)),
                         float(rng.uniform(0.4, 1.0))) for lo, hi in ((700, 1800), (2000, 7000)))
    return Machine(
        family=family, mains_hz=float(rng.choice([50.0, 60.0])), poles=poles,
        rated_slip=float(rng.uniform(0.02, 0.055)), cylinders=cylinders,
        order_amps=order_amps, order_phases=tuple(rng.uniform(0, 2 * np.pi, n_orders)),
        pulse_amps=pulse_amps,
        hum_amps=tuple(float(rng.lognormal(0, 0.5) / k) for k in range(1, 6)),
        rotor_slots=int(rng.choice([22, 26, 28, 34, 38])), housing=housing,
        valve_modes=valve_modes,
        fan_blades=int(rng.choice([0, 3, 4, 5, 6, 7])), fan_poles=int(rng.choice([6, 8])),
        bearing=Bearing(int(rng.integers(7, 14)), float(rng.uniform(6, 14)),
                        float(rng.uniform(38, 70)), float(rng.choice([0.0, 15.0, 25.0]))),
        flow_corner_hz=float(rng.uniform(800, 3500)),
        levels=_levels(family, rng))


def _levels(family: str, rng: np.random.Generator) -> tuple:
    """dB of orders, pulsation, valves, hum, fan, flow: a family's character, per unit varied."""
    base = {"reciprocating": (-6, -4, -3, -12, -10, -14), "scroll": (-8, -14, -99, -10, -8, -9),
            "screw": (-10, -2, -99, -12, -10, -8)}[family]
    return tuple(b + float(rng.uniform(-4, 4)) for b in base)


@dataclass(frozen=True)
class Kinematics:
    """The shaft inside one window: speed (Hz) and angle (rad) per sample, motor slip,
    current (relative to full load; 0 when the motor is off)."""

    rate: int
    speed: np.ndarray
    theta: np.ndarray
    slip: np.ndarray
    current: np.ndarray


def kinematics(m: Machine, n: int, rate: int, load: float, motion, rng) -> Kinematics:
    """`motion` is (speed share 0..1, motor energised) per sample, for a start or a rundown;
    the load wanders a little within the window, and the slip and so the speed follow it. A
    start draws several times the full-load current until the motor is up to speed."""
    share, powered = motion
    wander = np.cumsum(rng.standard_normal(n // 256 + 2)) * 0.01
    wander = np.interp(np.arange(n), np.arange(len(wander)) * 256, wander)
    torque = np.clip(load + wander, 0.05, 1.6)
    slip = m.rated_slip * torque
    speed = m.sync_hz * (1 - slip) * share
    theta = sg.phase_of(speed, rate, start=float(rng.uniform(0, 2 * np.pi)))
    current = np.where(powered, torque + 5.0 * (1 - share), 0.0)
    return Kinematics(rate, speed, theta, np.where(powered, slip, 0.0), current)


def parts(m: Machine, k: Kinematics, load: float, wear_db: float, rng) -> dict[str, np.ndarray]:
    """The running machine's sound: "structure" (through the housing) and "air" parts."""
    n, rate = len(k.theta), k.rate
    lv = [10 ** ((level + wear_db) / 20) for level in m.levels]
    orders = np.arange(1, len(m.order_amps) + 1)
    share = k.speed / m.sync_hz  # the forces fade as the shaft slows
    structure = lv[0] * share ** 2 * sg.tone_series(k.theta, orders, m.order_amps,
                                                   m.order_phases)
    structure += lv[1] * (0.6 + 0.6 * load) * share * pulsation(m, k)
    if m.family == "reciprocating":
        structure += lv[2] * (0.5 + 0.7 * load) * valve_impacts(m, k, load, rng)
    structure += lv[3] * hum(m, k)
    flow = sg.shaped_noise(rng, n, sg.lowpass(sg.freqs(n, rate), m.flow_corner_hz, 2)
                           * sg.highpass(sg.freqs(n, rate), 60.0))
    air = lv[5] * (0.5 + 0.6 * load) * flow * share
    if m.fan_blades:
        air += lv[4] * fan(m, k, rng)
    return {"structure": structure, "air": air}


def pulsation(m: Machine, k: Kinematics) -> np.ndarray:
    """Gas pulsation at cylinders (or lobes) x speed and its harmonics; a scroll's is weak and
    at the orbit rate."""
    per_turn = m.cylinders
    orders = per_turn * np.arange(1, len(m.pulse_amps) + 1)
    return sg.tone_series(k.theta, orders, m.pulse_amps, np.linspace(0, 2.3, len(orders)))


def valve_impacts(m: Machine, k: Kinematics, load: float, rng) -> np.ndarray:
    """Each cylinder's valves strike their seats four times a turn: discharge opens late in the
    stroke (later at a higher pressure ratio), closes at top dead centre, suction opens soon
    after and closes at bottom dead centre."""
    kernel = sg.ring_kernel(k.rate, [(f, z, w) for f, z, w in m.valve_modes], 0.02)
    times, amps = [], []
    for cyl in range(m.cylinders):
        shift = cyl / m.cylinders
        for angle, weight in ((0.40 + 0.06 * load, 0.6), (0.5, 1.0), (0.58, 0.5), (1.0, 0.8)):
            at = sg.event_times(k.theta, 1.0, offset=shift + angle)
            times.append(at)
            amps.append(weight * rng.lognormal(0, 0.15, len(at)) * (k.speed[at] / m.sync_hz))
    out = sg.impacts(len(k.theta), np.concatenate(times), np.concatenate(amps), kernel)
    return out / max(1.0, np.sqrt(m.cylinders))


def hum(m: Machine, k: Kinematics) -> np.ndarray:
    """Magnetostriction at twice the mains frequency and its harmonics, growing with the
    current squared (an inrush is loud), and the rotor slot whine at slots x speed +/- 2 mains."""
    t = np.arange(len(k.theta)) / k.rate
    lines = sum(a * np.cos(2 * np.pi * 2 * m.mains_hz * j * t + j)
                for j, a in enumerate(m.hum_amps, start=1))
    slot = sum(np.cos(m.rotor_slots * k.theta + s * 2 * np.pi * 2 * m.mains_hz * t)
               for s in (-1, 1)) * 0.15
    magnet = np.where(k.current > 0, 0.3 + 0.7 * np.square(np.minimum(k.current, 3.0)), 0.0)
    return magnet * lines + 0.5 * k.current * slot


def fan(m: Machine, k: Kinematics, rng) -> np.ndarray:
    """The condenser fan: its own small motor (more slip), blade-pass tones, broadband swish."""
    n = len(k.theta)
    on = (k.current > 0).astype(float)
    fan_hz = 2 * m.mains_hz / m.fan_poles * 0.93 * on
    angle = sg.phase_of(fan_hz, k.rate, start=1.0)
    blades = m.fan_blades * np.arange(1, 5)
    tones = sg.tone_series(angle, blades, (1.0, 0.5, 0.25, 0.12), (0.0, 1.0, 2.0, 3.0))
    f = sg.freqs(n, k.rate)
    swish = sg.shaped_noise(rng, n, sg.pink(f, 200) * sg.highpass(f, 80) * sg.lowpass(f, 2500))
    return (0.7 * tones + 0.8 * swish) * on


def nominal_rms(m: Machine, rate: int, seed: tuple) -> float:
    """RMS of the healthy machine at full speed and nominal load, through its housing: what
    the sensor gain is set against, so that every unit's file lands at its intended level."""
    n = rate // 2
    rng = np.random.default_rng([*seed, 99])
    kin = kinematics(m, n, rate, 0.7, (np.ones(n), np.ones(n, bool)), rng)
    p = parts(m, kin, 0.7, 0.0, rng)
    housing = housing_response(m, sg.freqs(n, rate), 0.0)
    return sg.rms(sg.apply_response(p["structure"], housing) + p["air"])


def housing_response(m: Machine, f: np.ndarray, temp_shift: float) -> np.ndarray:
    """The shell's modes; warmer steel is softer, so the modes sit a little lower."""
    response = np.ones_like(f)
    for f0, q, gain in m.housing:
        response *= sg.peak_gain(f, f0 * (1 - temp_shift), q, gain)
    return response / np.sqrt(np.mean(response ** 2))
