"""The crackle model: a log-mel front end computed as a Conv1d with DFT kernels, then a
compact CNN giving a per-frame crackle map and a per-window crackle probability.

Training/export module: imports torch. The whole graph uses Conv, MatMul-free
element-wise ops, ReduceMean, MaxPool, Log and Sigmoid only, so it runs under
ONNX Runtime and TensorRT, which has no STFT operator.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

SAMPLE_RATE = 4000
WINDOW_SAMPLES = 16000  # 4 s: a whole inspiration at 10-30 breaths/min
N_FFT = 128  # 32 ms: short enough to keep a 5-10 ms crackle from smearing over frames
HOP = 32  # 8 ms
N_MELS = 32
F_MIN, F_MAX = 50.0, 2000.0
_PAD = 48  # (16000 + 2*48 - 128) / 32 + 1 = 500 frames
TIME_POOL = 4
FRAME_S = HOP * TIME_POOL / SAMPLE_RATE  # 32 ms per output frame
N_OUT_FRAMES = WINDOW_SAMPLES // (HOP * TIME_POOL)  # 125


def mel_filterbank(*, sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX):
    """Triangular HTK-mel filters on the rfft bins, shape ``(n_mels, n_fft // 2 + 1)``.

    A filter narrower than one bin (low mels at a 31 Hz bin spacing) gets its nearest bin
    with weight 1 instead of being empty.

    Examples
    --------
    >>> fb = mel_filterbank()
    >>> fb.shape, bool((fb.sum(axis=1) > 0).all())
    ((32, 65), True)
    """
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bank = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, centre, hi = edges[i : i + 3]
        rising = (freqs - lo) / (centre - lo)
        falling = (hi - freqs) / (hi - centre)
        bank[i] = np.clip(np.minimum(rising, falling), 0, None)
        if bank[i].sum() == 0:
            bank[i, np.argmin(np.abs(freqs - centre))] = 1.0
    return bank.astype(np.float32)


def dft_kernels(n_fft=N_FFT):
    """Hann-windowed cosine and sine kernels, shape ``(2 * (n_fft // 2 + 1), 1, n_fft)``."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    angle = 2 * np.pi * k * n / n_fft
    return np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])[:, None, :].astype(np.float32)


class LogMelFrontEnd(nn.Module):
    """PCM ``(batch, 16000)`` -> per-band-normalised log-mel ``(batch, 1, 32, 500)``.

    The waveform is scaled to unit RMS and each mel band has its mean over the window
    removed: a stethoscope's gain and frequency response (a stationary filter) become
    a constant per band in the log domain, so this cancels device colouration.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("dft", torch.from_numpy(dft_kernels()))
        self.register_buffer("mel", torch.from_numpy(mel_filterbank())[:, :, None])
        self.n_bins = N_FFT // 2 + 1

    def forward(self, pcm):
        x = pcm - pcm.mean(dim=1, keepdim=True)
        x = x / (torch.sqrt((x * x).mean(dim=1, keepdim=True)) + 1e-4)
        spec = F.conv1d(x.unsqueeze(1), self.dft, stride=HOP, padding=_PAD)
        real, imag = spec[:, : self.n_bins], spec[:, self.n_bins :]
        mel = F.conv1d(real * real + imag * imag, self.mel)
        logmel = torch.log(mel + 1e-6)
        return (logmel - logmel.mean(dim=2, keepdim=True)).unsqueeze(1)


def _conv_block(c_in, c_out, pool):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(pool)
    )


class CrackleNet(nn.Module):
    """Log-mel front end + CNN. ``forward(pcm)`` returns ``(window_probability, frame_probability,
    quality_probability)``.

    ``window_probability`` has shape ``(batch,)``; ``frame_probability`` is
    ``(batch, 125)``, one value per 32 ms of the 4 s window. The window value is the
    linear-softmax pooling of the frame values, ``sum(p^2) / sum(p)`` (Wang et al.,
    ICASSP 2019), which follows the loudest frames without being a brittle max.
    ``quality_probability`` ``(batch,)`` is a second head on the same features: the
    probability that experts would call the window's recording not assessable ("Poor
    Quality" in SPRSound), read by the quality gate.
    """

    def __init__(self, channels=(16, 32, 48, 64)):
        super().__init__()
        c1, c2, c3, c4 = channels
        self.front_end = LogMelFrontEnd()
        self.features = nn.Sequential(
            _conv_block(1, c1, (2, 2)), _conv_block(c1, c2, (2, 2)), _conv_block(c2, c3, (2, 1)),
            _conv_block(c3, c4, (4, 1)),
        )
        self.context = nn.Sequential(
            nn.Conv1d(c4, c4, 5, padding=4, dilation=2, bias=False), nn.BatchNorm1d(c4), nn.ReLU(),
            nn.Conv1d(c4, c4, 5, padding=8, dilation=4, bias=False), nn.BatchNorm1d(c4), nn.ReLU(),
        )
        self.head = nn.Conv1d(c4, 1, 1)
        self.quality_head = nn.Conv1d(c4, 1, 1)

    def logits(self, pcm):
        """Per-frame crackle logits ``(batch, 125)`` and per-window poor-quality logits ``(batch,)``."""
        h = self.features(self.front_end(pcm)).squeeze(2)
        h = h + self.context(h)
        return self.head(h).squeeze(1), self.quality_head(h).mean(dim=2).squeeze(1)

    def frame_logits(self, pcm):
        """Per-frame crackle logits ``(batch, 125)``."""
        return self.logits(pcm)[0]

    def forward(self, pcm):
        frame_logits, quality_logits = self.logits(pcm)
        frames = torch.sigmoid(frame_logits)
        window = (frames * frames).sum(dim=1) / (frames.sum(dim=1) + 1e-6)
        return window, frames, torch.sigmoid(quality_logits)


def load_weights(path):
    """A :class:`CrackleNet` with the weights saved in ``path`` (``torch.save`` of its state dict), in
    eval mode, ready to score. Raises what ``torch.load`` raises for a missing or damaged file."""
    model = CrackleNet()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def count_parameters(model):
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
