"""The plant room around the unit and the microphone that listens to it: ambient noise
(ventilation, distant traffic: pink-ish), a neighbouring condensing unit on its own thermostat,
things that happen (a door, a forklift with its reversing beeper, voices, a dropped tool),
and the microphone: distance, a floor reflection (comb filter), its response, gain, self-noise,
one or two channels, and hard clipping at full scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.coldroom.pieces import (
    band,
    impulse_spectrum,
    modal_gain,
    noise_spectrum,
    order_wave,
    pink,
)

EVENTS = ("door", "forklift", "voices", "tool", "trolley")


@dataclass(frozen=True)
class Neighbour:
    shaft_hz: float
    orders: tuple[complex, ...]
    period_s: float
    on_fraction: float
    phase_s: float

    def running(self, t_s: float) -> bool:
        return (t_s + self.phase_s) % self.period_s < self.on_fraction * self.period_s


@dataclass(frozen=True)
class Room:
    ambient_pa: float  # Pa/sqrt(Hz) at 100 Hz
    ambient_slope: float  # dB/octave above 200 Hz
    events_per_hour: float  # in working hours; a fifth of that at night
    neighbour: Neighbour | None


@dataclass(frozen=True)
class Microphone:
    distance_m: float
    gain: float  # full-scale units per Pa
    self_noise: float  # RMS, full-scale units
    highpass_hz: float
    lowpass_hz: float
    channels: int
    reflection: tuple[tuple[float, float], ...]  # per channel (delay ms, gain) of the floor
    spacing_ms: float  # second capsule's extra delay


def ambient_density(room: Room, freqs: np.ndarray) -> np.ndarray:
    return room.ambient_pa * pink(freqs, 200.0, room.ambient_slope) * band(freqs, 15, 2e4, 1)


def neighbour_wave(room: Room, t_abs: np.ndarray, t_s: float) -> np.ndarray:
    mate = room.neighbour
    if mate is None or not mate.running(t_s):
        return np.zeros(t_abs.shape)
    return order_wave(mate.shaft_hz * t_abs, np.array(mate.orders))


def event_spectrum(room: Room, rng, n: int, rate: float, freqs: np.ndarray, busy: float,
                   t: np.ndarray) -> np.ndarray:
    """What happens in the room during this window, if anything (Pa at the machine's 1 m)."""
    chance = room.events_per_hour * (0.2 + 0.8 * busy) * (n / rate) / 3600.0
    if rng.random() >= chance:
        return np.zeros(freqs.shape, complex)
    kind = EVENTS[int(rng.integers(len(EVENTS)))]
    at = rng.uniform(0, n / rate)
    if kind == "door":  # a heavy door: a low thud and a latch click
        spec = impulse_spectrum(n, rate, np.array([at]), np.array([rng.uniform(0.5, 3.0)]), 70, 3)
        return spec * (modal_gain(freqs, [(70.0, 3.0, 1.0)]) + 0.1 * band(freqs, 2000, 9000))
    if kind == "tool":  # a spanner on concrete: stiff metal modes, loud, short
        modes = [(float(f), 60.0, 1.0) for f in rng.uniform(1500, 9000, 4)]
        spec = impulse_spectrum(n, rate, np.array([at]), np.array([rng.uniform(2, 12)]),
                                modes[0][0], 60)
        return spec * modal_gain(freqs, modes)
    if kind == "forklift":  # motor whine drifting and a reversing beeper
        f0 = rng.uniform(250, 600)
        whine = 0.05 * np.cos(2 * np.pi * f0 * (t + 0.05 * t * t))
        beep = 0.15 * np.cos(2 * np.pi * rng.uniform(1000, 2800) * t) * (np.mod(t + at, 1.0) < 0.5)
        rumble = noise_spectrum(rng, n, rate, 0.01 * pink(freqs, 60, -9))
        return np.fft.rfft(whine + beep) + rumble
    if kind == "voices":  # voiced speech: a harmonic series under formants, syllabic rhythm
        f0 = rng.uniform(95, 240)
        syllables = 0.5 * (1 + np.cos(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6)))
        harmonics = sum(np.cos(2 * np.pi * k * f0 * t * (1 + 0.02 * np.sin(2 * np.pi * t)))
                        / k for k in range(1, 16))
        formants = modal_gain(freqs, [(float(rng.uniform(400, 800)), 5, 1.0),
                                      (float(rng.uniform(1000, 2200)), 6, 0.6)])
        return np.fft.rfft(0.02 * harmonics * syllables) * formants
    # a trolley: wheels over a floor joint, a few quick knocks and rattle
    knocks = at + np.cumsum(rng.uniform(0.03, 0.12, 8))
    spec = impulse_spectrum(n, rate, knocks, rng.uniform(0.2, 1.0, 8), 400, 8)
    return spec * modal_gain(freqs, [(400.0, 8.0, 1.0), (float(rng.uniform(1200, 3000)), 15.0,
                                                          0.5)])


def mic_path(mic: Microphone, freqs: np.ndarray, index: int) -> np.ndarray:
    """From pressure at 1 m to one channel's samples: distance, the floor reflection, the
    second capsule's offset, the microphone's response and gain."""
    response = band(freqs, mic.highpass_hz, mic.lowpass_hz, 2) * (mic.gain / mic.distance_m)
    delay_ms, gain = mic.reflection[index]
    path = 1.0 + gain * np.exp(-2j * np.pi * freqs * delay_ms / 1000.0)
    if index:
        path = path * np.exp(-2j * np.pi * freqs * mic.spacing_ms / 1000.0) * 0.92
    return path * response


def microphone(mic: Microphone, spectrum: np.ndarray, paths: list[np.ndarray], n: int,
               rng) -> np.ndarray:
    """Pressure at 1 m (as a spectrum) to what the box records: (frames,) or (frames, 2)."""
    channels = []
    for path in paths:
        x = np.fft.irfft(spectrum * path, n)
        x += mic.self_noise * rng.standard_normal(n)
        channels.append(np.clip(x, -1.0, 1.0))  # the converter's full scale
    return channels[0] if mic.channels == 1 else np.stack(channels, axis=1)


def draw_room(rng: np.random.Generator) -> Room:
    mate = None
    if rng.random() < 0.7:
        k = np.arange(60)
        orders = np.where(k > 0, rng.uniform(0.002, 0.02) / np.maximum(k, 1) ** 1.2, 0) * np.exp(
            2j * np.pi * rng.uniform(0, 1, 60))
        mate = Neighbour(float(rng.choice([24.2, 24.5, 29.1, 48.3, 58.2]) * rng.uniform(0.99,
                         1.01)), tuple(complex(o) for o in orders), float(rng.uniform(700, 2600)),
                         float(rng.uniform(0.3, 0.7)), float(rng.uniform(0, 3000)))
    return Room(float(rng.uniform(3e-4, 1.5e-3)), float(rng.uniform(-5, -2)),
                float(rng.uniform(2, 12)), mate)


def draw_microphone(rng: np.random.Generator, rate: int) -> Microphone:
    channels = 2 if rng.random() < 0.3 else 1
    hot = rng.random() < 0.12  # a box installed with too much gain clips on loud moments
    gain = float(np.exp(rng.uniform(np.log(0.05), np.log(0.3))) * (4.0 if hot else 1.0))
    return Microphone(float(rng.uniform(0.3, 2.0)), gain,
                      float(np.exp(rng.uniform(np.log(2e-5), np.log(3e-4)))),
                      float(rng.uniform(20, 120)),
                      float(min(rng.uniform(9000, 20000), 0.45 * rate)), channels,
                      tuple((float(rng.uniform(1.0, 8.0)), float(rng.uniform(0.2, 0.6)))
                            for _ in range(channels)), float(rng.uniform(0.1, 0.8)))
