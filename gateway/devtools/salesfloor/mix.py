"""The accumulator a window's sound is built in, before the microphone hears it.

Sources are kept in two groups: near ones (the unit's own compressor, fans and faults, a few
tens of centimetres from the box, so both capsules of a stereo box hear the same wave a few
samples apart) and the room (shoppers, music, neighbours, cleaning: diffuse, so the capsules
hear it decorrelated at high frequencies). Each group holds a time-domain part (tones, gated
sounds) and a spectrum part (stationary noises, filtered impulse trains) so most sources need
no FFT of their own; the microphone model does the one inverse FFT per channel.
"""

from __future__ import annotations

import numpy as np

from .spectral import bin_freqs, impact_response


class Mix:
    def __init__(self, frames: int, rate: int) -> None:
        self.frames = frames
        self.rate = rate
        self.freqs = bin_freqs(frames, rate)
        bins = self.freqs.size
        self.near_wave = np.zeros(frames)
        self.room_wave = np.zeros(frames)
        self.near_spectrum = np.zeros(bins, dtype=complex)
        self.room_spectrum = np.zeros(bins, dtype=complex)

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.frames) / self.rate

    def add_wave(self, wave: np.ndarray, near: bool = True) -> None:
        if near:
            self.near_wave += wave
        else:
            self.room_wave += wave

    def add_noise(
        self, rng: np.random.Generator, gain: np.ndarray, rms: float, near: bool = True
    ) -> None:
        """Stationary Gaussian noise of spectral shape gain and the given rms level."""
        power = float(np.mean(gain**2))
        if rms <= 0 or power <= 0:
            return
        bins = gain.size
        draw = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
        spectrum = draw * gain * (rms / np.sqrt(power)) * np.sqrt(self.frames / 2.0)
        self.add_spectrum(spectrum, near)

    def add_spectrum(self, spectrum: np.ndarray, near: bool = True) -> None:
        if near:
            self.near_spectrum += spectrum
        else:
            self.room_spectrum += spectrum

    def add_filtered(self, wave: np.ndarray, gain: np.ndarray, near: bool = True) -> None:
        """wave through a zero-phase gain curve (one forward FFT)."""
        self.add_spectrum(np.fft.rfft(wave) * gain, near)

    def add_impacts(self, impulses: np.ndarray, gain: np.ndarray, near: bool = True) -> None:
        """Impacts ringing a structure of response gain: an impulse of height a rings with a
        peak of about a, whatever the sample rate or the resonance's bandwidth."""
        self.add_filtered(impulses, impact_response(gain, self.frames), near)
