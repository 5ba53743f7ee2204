"""The accumulator a window's sound is built in, before the microphone hears it.

Sources are kept in two groups: near ones (the unit's own compressor, fans and faults, a few
tens of centimetres from the box, so both capsules of a stereo box hear the same wave a few
samples apart) and the room (shoppers, music, neighbours, cleaning: diffuse, so the capsules
hear it decorrelated at high frequencies). Each group holds a time-domain part (tones, gated
sounds) and a spectrum part (filtered impulse trains) so most sources need no FFT of their
own; the microphone model does the one inverse FFT per channel. Stationary noises are kept as
a power spectrum: independent Gaussian noises add up to one Gaussian noise whose power is the
sum of theirs, so all of a group's noises cost one draw.
"""

from __future__ import annotations

import numpy as np

from .spectral import band_gain, bin_freqs, impact_response, sample_times


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
        self.near_noise_power = np.zeros(bins)
        self.room_noise_power = np.zeros(bins)

    @property
    def times(self) -> np.ndarray:
        return sample_times(self.frames, self.rate)

    def add_wave(self, wave: np.ndarray, near: bool = True) -> None:
        if near:
            self.near_wave += wave
        else:
            self.room_wave += wave

    def band(self, low: float, high: float, order: int = 2) -> np.ndarray:
        return band_gain(self.frames, self.rate, low, high, order)

    def add_noise(self, gain: np.ndarray, rms: float, near: bool = True) -> None:
        """Stationary Gaussian noise of spectral shape gain and the given rms level."""
        squared = gain**2
        power = float(np.mean(squared))
        if rms <= 0 or power <= 0:
            return
        if near:
            self.near_noise_power += squared * (rms**2 / power)
        else:
            self.room_noise_power += squared * (rms**2 / power)

    def spectra(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(near, room) spectra of everything added, the noises drawn now from rng."""
        scale = np.sqrt(self.frames / 2.0)
        out = []
        for spectrum, wave, power in (
            (self.near_spectrum, self.near_wave, self.near_noise_power),
            (self.room_spectrum, self.room_wave, self.room_noise_power),
        ):
            draw = rng.standard_normal((2, power.size))
            out.append(
                spectrum + np.fft.rfft(wave) + (draw[0] + 1j * draw[1]) * np.sqrt(power) * scale
            )
        return out[0], out[1]

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
