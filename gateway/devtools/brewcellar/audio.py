"""The microphone chain and the public audio functions.

Dry sound at the machine goes through the room (direct sound plus a diffuse reverberant tail
whose share grows with distance) and the box: a MEMS capsule rolling off below about 80 Hz,
the acoustic port's low-pass with its small resonance, the box's digital gain, the capsule's
self-noise, and 16-bit quantisation. A stereo box has two capsules a few centimetres apart:
the same direct sound, slightly different reflections and noise.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gateway.wav import encode_wav

from .dsp import band, db, resonance, rfft_freqs, white_spectrum
from .fault_parts import FaultContext, FaultSound
from .faults_audio import AUDIO_FAULT_FUNCS
from .frame import Frame, make_frame
from .keys import rng_for
from .machine import compressor_sound
from .names import AUDIO_FAULTS, FAULTS_WITHOUT_COMPRESSOR, active_fault
from .plant import plant_sound
from .site import site_sound
from .unit import Unit

SELF_NOISE_DB = -89.0  # capsule self-noise, dBFS RMS over the band, before the box's gain
CRITICAL_M = 1.2  # distance at which direct and reverberant sound are equally loud


@lru_cache(maxsize=128)
def room_and_mic(unit: Unit, n: int, channel: int) -> np.ndarray:
    """Complex response from the machine to one capsule's samples (cached per unit and length)."""
    rate = unit.audio_rate
    freqs = rfft_freqs(n, rate)
    rng = rng_for("room", unit.device_id, unit.seed, channel)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / unit.room_rt60_s)
    tail[: int(0.004 * rate)] = 0.0  # nothing arrives before the first reflection
    reverberant = (unit.mic_distance_m / CRITICAL_M) ** 2
    tail *= np.sqrt(reverberant / float(np.sum(tail**2)))
    room = 1.0 + np.fft.rfft(tail) * band(freqs, 0, 5000, 1)  # soft surfaces absorb the top
    delay = np.exp(-2j * np.pi * freqs * channel * 0.00012)
    port = band(freqs, 80, np.inf, 2) * band(freqs, 0, unit.mic_corner_hz, 2)
    port = port * (1.0 + 0.5 * resonance(freqs, min(1.3 * unit.mic_corner_hz, 0.45 * rate), 3.0))
    return room * delay * port / np.sqrt(1.0 + reverberant) * db(unit.mic_gain_db)


def _quantise(x: np.ndarray) -> np.ndarray:
    """Onto the PCM16 grid, k / 32768 with k in [-32768, 32767]."""
    return (np.clip(np.round(x * 32768.0), -32768.0, 32767.0) / 32768.0).astype(np.float32)


def _mic_chain(frame: Frame, dry: np.ndarray, noise_power: np.ndarray) -> np.ndarray:
    unit = frame.unit
    key = (unit.device_id, unit.seed, frame.key)
    spectrum = np.fft.rfft(dry) + white_spectrum(rng_for("steady", *key), frame.n) * np.sqrt(
        noise_power)
    self_noise = db(SELF_NOISE_DB + unit.mic_gain_db)
    channels = []
    for channel in range(unit.channels):
        hiss = white_spectrum(rng_for("capsule", channel, *key), frame.n) * self_noise
        channels.append(np.fft.irfft(spectrum * room_and_mic(unit, frame.n, channel) + hiss,
                                     frame.n))
    out = channels[0] if unit.channels == 1 else np.stack(channels, axis=1)
    return _quantise(out)


def _fault_sound(frame: Frame, shaft: np.ndarray, fault: str | None,
                 severity: float) -> FaultSound | None:
    if fault is None or not (frame.op.running or fault in FAULTS_WITHOUT_COMPRESSOR):
        return None
    return AUDIO_FAULT_FUNCS[fault](FaultContext(frame, shaft, float(severity), fault))


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """float32 samples on the PCM16 grid, (frames,) or (frames, 2), at unit.audio_rate."""
    active = active_fault(fault, severity, AUDIO_FAULTS)
    frame = make_frame(unit, t_s, unit.audio_rate, seconds, running)
    shaft = frame.shaft_phase()
    compressor = compressor_sound(frame, shaft)
    plant = plant_sound(frame)
    site = site_sound(frame)
    effect = _fault_sound(frame, shaft, active, severity)
    monitored = compressor.monitored
    dry = compressor.partner + plant.tonal + site.events
    if effect is not None:
        monitored = monitored * effect.machine_gain
        dry = dry + effect.sound
    return _mic_chain(frame, monitored + dry, plant.noise_power + site.noise_power)


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    """One second of the box's audio as a PCM16 WAV file."""
    samples = audio_window(unit, t_s, fault, severity, running)
    return encode_wav(samples, unit.audio_rate, "pcm16")
