"""Where the unit stands and what hears it. The room: ventilation, traffic, a neighbouring
machine with its own duty cycle, and the non-stationary events of a working site (voices,
doors, a forklift's reversing beeper, trolleys), busier in working hours; none of it is a
fault. The microphone: its placement's frequency response, gain, self-noise, mains pick-up in
its cable, and clipping where the site is loud."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.plant_sounds import signals as sg

DAY_S = 86_400.0


@dataclass(frozen=True)
class Room:
    hvac_db: float            # ventilation's broadband level, relative to the machine
    hvac_blade_hz: float      # an air handler's blade-pass tone
    traffic_db: float
    neighbour_db: float       # how loud the neighbouring machine arrives
    events_per_hour: float    # doors, trolleys, beepers in working hours
    voices_share: float       # share of working-hours windows with speech
    beeper_hz: float


@dataclass(frozen=True)
class Mic:
    rate: int
    highpass_hz: float
    lowpass_hz: float
    peak_hz: float
    peak_gain: float
    tilt: float               # dB per octave above 1 kHz: a mic behind a grille, or close
    gain_dbfs: float          # where the running machine's RMS lands in the file
    noise_dbfs: float
    pickup_db: float          # mains hum induced in the cable, relative to full scale
    window_s: float


def draw_room(rng: np.random.Generator) -> Room:
    return Room(hvac_db=float(rng.uniform(-32, -14)), hvac_blade_hz=float(rng.uniform(60, 180)),
                traffic_db=float(rng.uniform(-40, -20)), neighbour_db=float(rng.uniform(-26, -8)),
                events_per_hour=float(rng.uniform(20, 160)),
                voices_share=float(rng.uniform(0.0, 0.2)),
                beeper_hz=float(rng.choice([1000.0, 1250.0, 2400.0])))


def draw_mic(rng: np.random.Generator) -> Mic:
    rate = int(rng.choice([16_000, 16_000, 8_000, 22_050, 32_000]))
    loud = rng.random() < 0.2  # a site where the mic sits too close: peaks clip
    return Mic(rate=rate, highpass_hz=float(rng.uniform(20, 160)),
               lowpass_hz=float(rate * rng.uniform(0.36, 0.46)),
               peak_hz=float(rng.uniform(1500, min(9000, 0.4 * rate))),
               peak_gain=float(rng.uniform(0.0, 3.0)), tilt=float(rng.uniform(-4, 2)),
               gain_dbfs=float(rng.uniform(-11, -7) if loud else rng.uniform(-34, -16)),
               noise_dbfs=float(rng.uniform(-84, -66)),
               pickup_db=float(rng.choice([-200.0, rng.uniform(-75, -55)])),
               window_s=float(rng.choice([1.0, 1.0, 2.0])))


def working_hours(t_s: float) -> float:
    """Activity on site: 1 in working hours, low at night and on Sundays."""
    hour = (t_s % DAY_S) / 3600
    sunday = int(t_s // DAY_S + 4) % 7 == 0  # 1970-01-01 was a Thursday
    return (1.0 if 7 <= hour < 20 else 0.15) * (0.3 if sunday else 1.0)


def ambience(r: Room, t_s: float, n: int, rate: int, rng) -> np.ndarray:
    """Ventilation and traffic: always there, in relative units of the machine's level."""
    f, t = sg.freqs(n, rate), np.arange(n) / rate
    hvac = sg.shaped_noise(rng, n, sg.pink(f, 60) * sg.lowpass(f, 3000))
    hvac += 0.3 * np.cos(2 * np.pi * r.hvac_blade_hz * t) + 0.1 * np.cos(4 * np.pi *
                                                                         r.hvac_blade_hz * t)
    traffic = sg.shaped_noise(rng, n, sg.lowpass(f, 250, 3) * sg.highpass(f, 15))
    swell = 1 + 0.8 * np.sin(2 * np.pi * (t_s / 37.0 + t / 9.0)) ** 2
    busy = 0.4 + working_hours(t_s)
    return 10 ** (r.hvac_db / 20) * hvac + busy * 10 ** (r.traffic_db / 20) * traffic * swell


def events(r: Room, t_s: float, n: int, rate: int, rng) -> np.ndarray:
    """What people do near the machine: a few of these fall in some windows."""
    out = np.zeros(n)
    active = working_hours(t_s)
    count = rng.poisson(r.events_per_hour * active * n / rate / 3600 * 8)
    for _ in range(count):
        kind = rng.choice(["door", "trolley", "beeper", "drop"])
        out += _event(kind, r, n, rate, rng) * 10 ** (rng.uniform(-18, -2) / 20)
    if rng.random() < r.voices_share * active:
        out += voice(n, rate, rng) * 10 ** (rng.uniform(-22, -6) / 20)
    return out


def _event(kind: str, r: Room, n: int, rate: int, rng) -> np.ndarray:
    at = np.array([int(rng.integers(0, n))])
    if kind == "door":   # a slam: a low thump and the frame's ring, a latch click after
        kernel = sg.ring_kernel(rate, [(rng.uniform(60, 140), 0.08, 1.0),
                                       (rng.uniform(300, 900), 0.03, 0.5)], 0.4)
        return sg.impacts(n, np.append(at, at + int(0.12 * rate)), np.array([1.0, 0.2]), kernel)
    if kind == "trolley":  # wheels over floor joints: a burst of small irregular knocks
        times = at + np.cumsum(rng.integers(int(0.02 * rate), int(0.12 * rate), 12))
        kernel = sg.ring_kernel(rate, [(rng.uniform(400, 2500), 0.04, 1.0)], 0.05)
        return sg.impacts(n, times, rng.uniform(0.2, 0.6, len(times)), kernel)
    if kind == "beeper":  # a forklift reversing: 0.5 s on, 0.5 s off
        t = np.arange(n) / rate
        return 0.5 * np.sin(2 * np.pi * r.beeper_hz * t) * ((t + rng.random()) % 1.0 < 0.5)
    kernel = sg.ring_kernel(rate, [(rng.uniform(150, 3000), 0.02, 1.0)], 0.2)  # a tool dropped
    return sg.impacts(n, at, np.array([1.0]), kernel)


def voice(n: int, rate: int, rng) -> np.ndarray:
    """Speech-like: a wandering pitch with harmonics through two formants, syllables at 3-6 Hz."""
    t = np.arange(n) / rate
    f0 = rng.uniform(95, 230) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    angle = sg.phase_of(f0, rate)
    buzz = sum(np.cos(k * angle) / k for k in range(1, 25))
    f = sg.freqs(n, rate)
    formants = sg.peak_gain(f, rng.uniform(400, 800), 4, 8) * sg.peak_gain(
        f, rng.uniform(1100, 2400), 5, 5) * sg.lowpass(f, 3500)
    syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6)), 0, 1)
    return sg.apply_response(buzz, formants / 6) * syllables


def response(m: Mic, n: int) -> np.ndarray:
    f = sg.freqs(n, m.rate)
    octaves = np.log2(np.maximum(f, 1000.0) / 1000.0)
    return (sg.highpass(f, m.highpass_hz) * sg.lowpass(f, m.lowpass_hz, 6)
            * sg.peak_gain(f, m.peak_hz, 3.0, m.peak_gain) * 10 ** (m.tilt * octaves / 20))


def capture(m: Mic, pressure: np.ndarray, mains_hz: float, rng) -> np.ndarray:
    """What the box writes: the placement's response, gain, self-noise, cable pick-up, and the
    converter's hard clip at full scale."""
    n = len(pressure)
    y = sg.apply_response(pressure, response(m, n)) * 10 ** (m.gain_dbfs / 20)
    y += 10 ** (m.noise_dbfs / 20) * rng.standard_normal(n)
    t = np.arange(n) / m.rate
    y += 10 ** (m.pickup_db / 20) * (np.sin(2 * np.pi * mains_hz * t)
                                     + 0.3 * np.sin(2 * np.pi * 3 * mains_hz * t))
    return np.clip(y, -1.0, 1.0)
