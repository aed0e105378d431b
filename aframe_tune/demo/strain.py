"""Simulated two-detector gravitational-wave strain: coloured Gaussian noise, inspiral chirps, whitening.

Everything here is vectorised over a batch of windows with torch so a whole dataset is made in
well under a second on one CPU core. The physics is deliberately simple (Newtonian chirps, an
analytic PSD fit, approximate detector responses) but the pipeline is the real one: noise is
coloured by the PSD and whitened with it, signals are projected onto each detector, delayed and
whitened the same way. Whitening is linear, so noise and signal are whitened apart and summed
afterwards, which lets each signal be scaled to an exact optimal SNR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# G * M_sun / c^3 in seconds: the natural time unit of a compact binary.
SOLAR_MASS_SECONDS = 4.925490947e-6
# Largest light travel time between the LIGO Hanford and Livingston sites, in seconds.
HANFORD_LIVINGSTON_DELAY = 0.010


def aligo_psd(frequencies: torch.Tensor, low_frequency: float = 10.0) -> torch.Tensor:
    """One-sided power spectral density of Advanced LIGO at design sensitivity, in 1/Hz.

    An analytic fit to the zero-detuned high-power curve (Ajith 2011, Phys. Rev. D 84, 084037,
    eq. 4.7). Below ``low_frequency`` the fit is held at its value there, because it diverges
    at zero frequency.
    """
    x = frequencies.clamp(min=low_frequency) / 215.0
    return 1e-49 * (x**-4.14 - 5 * x**-2 + 111 * (1 - x**2 + x**4 / 2) / (1 + x**2 / 2))


@dataclass(frozen=True)
class InjectionParameters:
    """Ranges from which the source of each injected signal is drawn.

    Args:
        chirp_mass_range: chirp masses, in solar masses, drawn uniformly.
        snr_range: network optimal signal-to-noise ratios, drawn log-uniformly.
        coalescence_range: where the merger lands, as fractions of the window length.
    """

    chirp_mass_range: tuple[float, float] = (8.0, 40.0)
    snr_range: tuple[float, float] = (6.0, 24.0)
    coalescence_range: tuple[float, float] = (0.5, 0.95)


def inspiral_polarisations(
    times: torch.Tensor, chirp_mass: torch.Tensor, coalescence_time: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leading-order (Newtonian) inspiral waveform, unscaled.

    Args:
        times: sample times, shape ``(samples,)``.
        chirp_mass: chirp masses in solar masses, shape ``(batch,)``.
        coalescence_time: merger times on the same clock as ``times``, shape ``(batch,)``.

    Returns:
        The plus and cross polarisations of a face-on source with arbitrary overall amplitude,
        each of shape ``(batch, samples)``, zero after the innermost stable circular orbit.
    """
    mc = (chirp_mass * SOLAR_MASS_SECONDS)[:, None]
    tau = coalescence_time[:, None] - times[None, :]
    # For an equal-mass binary the total mass is 2^(6/5) times the chirp mass.
    isco_frequency = 1 / (6**1.5 * math.pi * 2 ** (6 / 5) * mc)
    tau_isco = 5 / 256 * (math.pi * isco_frequency) ** (-8 / 3) * mc ** (-5 / 3)
    tau = torch.maximum(tau, tau_isco)
    frequency = (5 / (256 * tau)) ** (3 / 8) * mc ** (-5 / 8) / math.pi
    phase = -2 * (tau / (5 * mc)) ** (5 / 8)
    amplitude = frequency ** (2 / 3)
    amplitude = torch.where(times[None, :] < coalescence_time[:, None], amplitude, 0.0)
    return amplitude * torch.cos(phase), amplitude * torch.sin(phase)


class StrainSimulator:
    """Makes whitened multi-detector strain windows, some with an inspiral injected.

    Args:
        num_ifos: number of detectors.
        sample_rate: samples per second.
        kernel_length: window length in seconds.
        injections: distribution of the injected sources.
        low_frequency: whitening band's lower edge in Hz; the band's upper edge is 0.9 Nyquist.
    """

    def __init__(
        self,
        num_ifos: int,
        sample_rate: float,
        kernel_length: float,
        injections: InjectionParameters,
        low_frequency: float = 20.0,
    ) -> None:
        self.num_ifos = num_ifos
        self.sample_rate = sample_rate
        self.kernel_size = int(round(kernel_length * sample_rate))
        self.injections = injections
        # Simulate on a segment twice the window so the circular FFT's wrap-around and the
        # chirp's abrupt start stay outside the window that is kept.
        self.segment_size = 2 * self.kernel_size
        frequencies = torch.fft.rfftfreq(self.segment_size, 1 / sample_rate)
        in_band = (frequencies >= low_frequency) & (frequencies <= 0.45 * sample_rate)
        # Only the PSD's shape matters once the data are whitened; dividing by its minimum keeps
        # values of order one, where 1e-49 would underflow float32.
        psd = aligo_psd(frequencies.double())
        self._asd = (psd / psd.min()).sqrt().float()
        self._band = in_band
        # Whitening divides each bin by its noise standard deviation; this factor then gives
        # the band-limited white noise unit variance in the time domain.
        bins_in_full_spectrum = 2 * int(in_band.sum())
        self._unit_variance = self.segment_size / math.sqrt(bins_in_full_spectrum)

    def _noise_std(self) -> torch.Tensor:
        return self._asd * math.sqrt(self.segment_size * self.sample_rate / 4)

    def _whiten(self, spectrum: torch.Tensor) -> torch.Tensor:
        white = torch.where(self._band, spectrum / (self._noise_std() * math.sqrt(2)), 0)
        series = torch.fft.irfft(white, n=self.segment_size) * self._unit_variance
        start = (self.segment_size - self.kernel_size) // 2
        return series[..., start : start + self.kernel_size]

    def coloured_noise_spectrum(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Fourier transform of Gaussian noise with the detector PSD, shape ``(batch, ifos, bins)``."""
        shape = (batch, self.num_ifos, self._asd.numel())
        real = torch.randn(shape, generator=generator)
        imag = torch.randn(shape, generator=generator)
        return torch.complex(real, imag) * self._noise_std()

    def signal_spectrum(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Fourier transform of projected inspiral signals, unscaled, shape ``(batch, ifos, bins)``."""

        def uniform(low: float, high: float, size: int = batch) -> torch.Tensor:
            return low + (high - low) * torch.rand(size, generator=generator)

        times = torch.arange(self.segment_size) / self.sample_rate
        offset = (self.segment_size - self.kernel_size) / 2 / self.sample_rate
        kernel_length = self.kernel_size / self.sample_rate
        coalescence = offset + kernel_length * uniform(*self.injections.coalescence_range)
        chirp_mass = uniform(*self.injections.chirp_mass_range)
        inclination = torch.arccos(uniform(-1.0, 1.0))
        plus, cross = inspiral_polarisations(times, chirp_mass, coalescence)
        plus = plus * ((1 + torch.cos(inclination) ** 2) / 2)[:, None]
        cross = cross * torch.cos(inclination)[:, None]

        # Approximate antenna patterns: a shared polarisation angle, per-detector amplitude
        # and a sign flip for the second detector (H1 and L1 are nearly anti-aligned).
        psi = uniform(0.0, math.pi)
        frequencies = torch.fft.rfftfreq(self.segment_size, 1 / self.sample_rate)
        spectra = []
        for ifo in range(self.num_ifos):
            sign = -1.0 if ifo % 2 else 1.0
            gain = uniform(0.5, 1.0)
            angle = psi + uniform(-0.3, 0.3) * (ifo > 0)
            delay = uniform(-HANFORD_LIVINGSTON_DELAY, HANFORD_LIVINGSTON_DELAY) * (ifo > 0)
            response = sign * gain[:, None] * (
                torch.cos(2 * angle)[:, None] * plus + torch.sin(2 * angle)[:, None] * cross
            )
            shift = torch.exp(-2j * math.pi * frequencies[None, :] * delay[:, None])
            spectra.append(torch.fft.rfft(response) * shift)
        return torch.stack(spectra, dim=1)

    def sample(
        self, batch: int, injection_fraction: float, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Whitened windows ``(batch, ifos, kernel_size)`` and labels ``(batch,)`` (1 = signal)."""
        labels = (torch.rand(batch, generator=generator) < injection_fraction).float()
        noise = self._whiten(self.coloured_noise_spectrum(batch, generator))
        signal = self._whiten(self.signal_spectrum(batch, generator))
        # With unit-variance white noise, a whitened signal's optimal SNR is its L2 norm.
        norm = signal.square().sum(dim=(1, 2)).sqrt().clamp(min=1e-30)
        low, high = self.injections.snr_range
        snr = torch.exp(
            math.log(low) + (math.log(high) - math.log(low)) * torch.rand(batch, generator=generator)
        )
        scale = (snr / norm * labels)[:, None, None]
        return (noise + signal * scale).float(), labels
