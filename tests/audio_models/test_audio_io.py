"""Decoding: every supported container, width, rate and channel count reaches the model
as float32 mono at 4 kHz; the four real ICBHI sample files load."""

import io

import numpy as np
import pytest
import soundfile as sf

from audio_models.errors import UnreadableAudioError
from audio_models.io import load_audio, read_audio
from conftest import ICBHI_FILES


def _encode(data, rate, fmt, subtype):
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt,subtype",
    [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"), ("WAV", "DOUBLE"),
     ("FLAC", "PCM_16"), ("FLAC", "PCM_24")],
)
@pytest.mark.parametrize("rate", [4000, 8000, 44100, 48000])
def test_formats_and_rates_resample_to_4k(fmt, subtype, rate):
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 200 * t)
    x, sr = load_audio(_encode(tone, rate, fmt, subtype))
    assert sr == 4000 and x.dtype == np.float32 and x.shape == (4000,)
    expected = 0.5 * np.sin(2 * np.pi * 200 * np.arange(4000) / 4000)
    assert np.max(np.abs(x[200:-200] - expected[200:-200])) < 2e-3


def test_multichannel_is_mixed_down_to_the_channel_mean():
    left = np.full(800, 0.5)
    right = np.full(800, -0.1)
    x, sr = read_audio(_encode(np.stack([left, right, left], axis=1), 8000, "WAV", "FLOAT"))
    assert sr == 8000 and x.shape == (800,)
    np.testing.assert_allclose(x, (0.5 - 0.1 + 0.5) / 3, atol=1e-6)


def test_path_and_file_object_sources(tmp_path):
    path = tmp_path / "site.flac"
    sf.write(path, np.zeros(8000), 8000, format="FLAC")
    assert load_audio(path)[0].shape == (4000,)
    with open(path, "rb") as handle:
        assert load_audio(handle)[0].shape == (4000,)


def test_unsupported_container_is_unreadable():
    ogg = _encode(np.zeros(8000), 8000, "OGG", "VORBIS")
    with pytest.raises(UnreadableAudioError, match="is OGG, expected one of WAV, FLAC"):
        read_audio(ogg)


def test_real_icbhi_samples_load_at_their_rate_and_width(icbhi_dir):
    for stem, (rate, subtype, duration) in ICBHI_FILES.items():
        path = icbhi_dir / f"{stem}.wav"
        assert sf.info(path).subtype == subtype
        raw, sr = read_audio(path)
        assert sr == rate and abs(len(raw) / sr - duration) < 1e-3
        x, sr4 = load_audio(path)
        assert sr4 == 4000 and abs(len(x) / 4000 - duration) < 1e-3
        assert 0.01 < float(np.sqrt(np.mean(x**2))) < 0.5


def _silent_flac(seconds, rate):
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as handle:
        block = np.zeros(rate * 60, dtype=np.int16)
        for _ in range(int(seconds // 60)):
            handle.write(block)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "limit"),
    [
        (_encode(np.zeros(8000), 1, "WAV", "PCM_16"), "min_sample_rate"),
        (_encode(np.zeros(4000), 400_000, "WAV", "PCM_16"), "max_sample_rate"),
        (_encode(np.zeros((4000, 3)), 8000, "WAV", "PCM_16"), "max_channels"),
        (_silent_flac(180, 4000), "max_duration_s"),
    ],
)
def test_headers_outside_the_limits_are_refused_before_decoding(data, limit):
    """Protects the service from a header that decodes into gigabytes (issue 15): the error names the limit."""
    from audio_models.errors import AudioLimitError
    from audio_models.limits import DEFAULT_AUDIO_LIMITS

    with pytest.raises(AudioLimitError, match=limit) as caught:
        read_audio(data, limits=DEFAULT_AUDIO_LIMITS)
    assert caught.value.limit == limit
    assert caught.value.too_large == (limit in ("max_channels", "max_duration_s"))


def test_the_longest_allowed_duration_is_inclusive():
    from audio_models.errors import AudioLimitError
    from audio_models.limits import AudioLimits

    limits = AudioLimits(max_duration_s=1.0)
    assert read_audio(_encode(np.zeros(4000), 4000, "WAV", "PCM_16"), limits=limits)[0].shape == (4000,)
    with pytest.raises(AudioLimitError, match="max_duration_s"):
        read_audio(_encode(np.zeros(4001), 4000, "WAV", "PCM_16"), limits=limits)


def test_a_flac_that_does_not_declare_its_length_is_refused_rather_than_decoded_blind():
    """STREAMINFO total samples 0 means 'unknown': decoding it would trust the sender for the size."""
    from audio_models.errors import AudioLimitError
    from audio_models.limits import DEFAULT_AUDIO_LIMITS

    data = bytearray(_encode(np.zeros(8000), 4000, "FLAC", "PCM_16"))
    offset = 4 + 4 + 10  # "fLaC", block header, then rate/channels/bits/total-samples in 8 bytes
    packed = int.from_bytes(data[offset:offset + 8], "big") & ~((1 << 36) - 1)
    data[offset:offset + 8] = packed.to_bytes(8, "big")
    with pytest.raises(AudioLimitError, match="max_duration_s"):
        read_audio(bytes(data), limits=DEFAULT_AUDIO_LIMITS)


def test_without_limits_training_files_decode_whatever_their_length():
    x, sr = read_audio(_silent_flac(180, 4000))
    assert sr == 4000 and x.shape == (180 * 4000,)


def _silent_stereo_flac(seconds, rate):
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=rate, channels=2, format="FLAC", subtype="PCM_16") as handle:
        block = np.zeros((rate * 10, 2), dtype=np.int16)
        for _ in range(int(seconds // 10)):
            handle.write(block)
    return buf.getvalue()


def test_samples_times_channels_are_limited_from_the_header():
    """Issue 26: 70 s of stereo at 192 kHz is inside the rate, channel and duration limits but
    declares 26.9 million samples; it is refused before anything is decoded, naming the limit."""
    from audio_models.errors import AudioLimitError
    from audio_models.io import read_header
    from audio_models.limits import DEFAULT_AUDIO_LIMITS

    data = _silent_stereo_flac(70, 192_000)
    with pytest.raises(AudioLimitError, match="max_decoded_samples") as caught:
        read_header(io.BytesIO(data), limits=DEFAULT_AUDIO_LIMITS)
    assert caught.value.too_large


def test_decoding_holds_the_mono_result_not_the_multichannel_floats():
    """Issue 26: an 87 KB 192 kHz stereo FLAC once cost about 450 MB to decode; blocks are now
    mixed down as they come, so the peak is the mono float32 result plus a block."""
    import tracemalloc

    from audio_models.limits import AudioLimits

    data = _silent_stereo_flac(60, 192_000)
    limits = AudioLimits(max_decoded_samples=192_000 * 120)
    tracemalloc.start()
    try:
        mono, rate = read_audio(data, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rate == 192_000 and mono.shape == (60 * 192_000,) and mono.dtype == np.float32
    assert peak < mono.nbytes + 16 * 2**20, f"peak {peak / 2**20:.0f} MB for a {mono.nbytes / 2**20:.0f} MB result"
