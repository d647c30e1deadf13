"""Property-based robustness of the receive path (LinkReceiver + SampleAssembler).

Arbitrary bytes, truncated frames, flipped bits, duplicated, dropped and reordered
frames never crash the receiver and never yield corrupt audio: every sample outside a
reported gap equals the source, and every damaged frame is counted as bad.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_interface.assembly import SampleAssembler
from firmware_interface.framing import encode_frame
from firmware_interface.link import LinkReceiver
from firmware_interface.messages import AudioChunk, encode_body

CAPTURE_ID = 77


def audio_frames(pcm: np.ndarray, chunk: int) -> list:
    frames = []
    for seq, first in enumerate(range(0, len(pcm), chunk)):
        payload = AudioChunk(CAPTURE_ID, first, pcm[first : first + chunk].astype("<i2").tobytes())
        frames.append(encode_frame(encode_body(payload, seq=seq, device_time_us=first * 250)))
    return frames


def reassemble(stream: bytes, n_samples: int, split_points: list) -> tuple:
    link = LinkReceiver()
    assembler = SampleAssembler(n_samples)
    cuts = sorted(p % (len(stream) + 1) for p in split_points)
    for a, b in zip([0, *cuts], [*cuts, len(stream)]):
        for message in link.feed(stream[a:b]):
            if isinstance(message.payload, AudioChunk) and message.payload.capture_id == CAPTURE_ID:
                assembler.add(message.payload.first_sample, message.payload.samples)
    pcm, gaps = assembler.assemble(n_samples, fill_value=0, dtype=np.int16)
    return pcm, gaps, link.stats, assembler


def assert_exact_outside_gaps(source: np.ndarray, pcm: np.ndarray, gaps: tuple) -> None:
    valid = np.ones(len(source), dtype=bool)
    for gap in gaps:
        valid[gap.start_sample : gap.start_sample + gap.n_samples] = False
    assert np.array_equal(pcm[valid], source[valid])
    if not gaps:
        assert pcm.tobytes() == source.tobytes()


# (samples, samples per chunk, seed): at most 250 frames per example keeps the suite fast.
recordings = st.tuples(st.integers(1, 2000), st.integers(8, 300), st.integers(0, 2**32 - 1))
damage = st.lists(
    st.one_of(
        st.tuples(st.just("drop"), st.integers(0, 10_000)),
        st.tuples(st.just("duplicate"), st.integers(0, 10_000)),
        st.tuples(st.just("swap"), st.integers(0, 10_000)),
        st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 2**20)),
        st.tuples(st.just("truncate"), st.integers(0, 10_000), st.integers(0, 2**20)),
        st.tuples(st.just("garbage"), st.integers(0, 10_000), st.binary(min_size=1, max_size=64)),
    ),
    max_size=8,
)


def apply_damage(frames: list, operations: list) -> tuple:
    """Apply operations in order; return the damaged stream and how many frames were corrupted."""
    items = [[frame, "frame"] for frame in frames]  # [bytes, "frame" | "corrupted" | "garbage"]
    originals = set(frames)
    for op in operations:
        if not items:
            break
        i = op[1] % len(items)
        data, kind = items[i]
        damageable = kind != "garbage" and len(data) > 3
        if op[0] == "drop":
            del items[i]
        elif op[0] == "duplicate":
            items.insert(i + 1, [data, kind])
        elif op[0] == "swap" and i + 1 < len(items):
            items[i], items[i + 1] = items[i + 1], items[i]
        elif op[0] == "flip" and damageable:
            # Any bit after the leading delimiter (flipping the trailing one is a truncation).
            bit = 8 + op[2] % ((len(data) - 2) * 8)
            damaged = bytearray(data)
            damaged[bit // 8] ^= 1 << (bit % 8)
            # Two flips of one bit restore the frame: then it is not corrupted.
            items[i] = [bytes(damaged), "frame" if bytes(damaged) in originals else "corrupted"]
        elif op[0] == "truncate" and damageable:
            # Keep the leading delimiter and at least one encoded byte; lose the trailing
            # delimiter and at least one encoded byte before it.
            items[i] = [data[: 2 + op[2] % (len(data) - 3)], "corrupted"]
        elif op[0] == "garbage":
            items.insert(i, [op[2], "garbage"])
    return b"".join(d for d, _ in items) + b"\x00", sum(1 for _, k in items if k == "corrupted")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4000), st.lists(st.integers(0, 4000), max_size=6))
def test_arbitrary_bytes_never_crash_and_are_all_accounted(data, splits):
    link = LinkReceiver()
    cuts = sorted(p % (len(data) + 1) for p in splits)
    for a, b in zip([0, *cuts], [*cuts, len(data)]):
        link.feed(data[a:b])
    assert link.stats.bytes_received == len(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=500), st.integers(1, 400), st.integers(0, 2**32 - 1))
def test_garbage_before_a_frame_never_hides_it(garbage, n_samples, seed):
    pcm = np.random.default_rng(seed).integers(-32768, 32768, n_samples, dtype=np.int16)
    (frame,) = audio_frames(pcm, 400)
    out, gaps, stats, _ = reassemble(garbage + frame, n_samples, [])
    assert gaps == ()
    assert out.tobytes() == pcm.tobytes()


# derandomize: a flipped COBS code byte moves zero bytes around, a multi-bit error that
# CRC-16 misses with probability ~2^-16; fixed examples keep CI from drawing that lottery.
@settings(max_examples=150, deadline=None, derandomize=True)
@given(recordings, damage, st.lists(st.integers(0, 10**6), max_size=5))
def test_damaged_streams_give_exact_audio_or_reported_gaps(recording, operations, splits):
    n_samples, chunk, seed = recording
    source = np.random.default_rng(seed).integers(-32768, 32768, n_samples, dtype=np.int16)
    stream, corrupted = apply_damage(audio_frames(source, chunk), operations)
    pcm, gaps, stats, assembler = reassemble(stream, n_samples, splits)
    assert_exact_outside_gaps(source, pcm, gaps)
    assert stats.bad_frames >= corrupted
    assert assembler.conflicts == 0


@settings(max_examples=60, deadline=None)
@given(recordings, st.lists(st.integers(0, 10_000), min_size=1, max_size=6))
def test_duplicates_and_reordering_alone_lose_nothing(recording, positions):
    n_samples, chunk, seed = recording
    source = np.random.default_rng(seed).integers(-32768, 32768, n_samples, dtype=np.int16)
    frames = audio_frames(source, chunk)
    operations = [("duplicate" if k % 2 else "swap", p) for k, p in enumerate(positions)]
    stream, corrupted = apply_damage(frames, operations)
    pcm, gaps, stats, _ = reassemble(stream, n_samples, [])
    assert corrupted == 0 and gaps == ()
    assert pcm.tobytes() == source.tobytes()
    assert stats.bad_frames == 0


@settings(max_examples=60, deadline=None)
@given(recordings, st.integers(0, 10_000))
def test_a_dropped_frame_is_a_reported_gap_and_sequence_gap(recording, position):
    n_samples, chunk, seed = recording
    source = np.random.default_rng(seed).integers(-32768, 32768, n_samples, dtype=np.int16)
    frames = audio_frames(source, chunk)
    i = position % len(frames)
    stream, _ = apply_damage(frames, [("drop", i)])
    pcm, gaps, stats, _ = reassemble(stream, n_samples, [])
    first = i * chunk
    assert gaps[0].start_sample == first
    assert gaps[0].n_samples == min(chunk, n_samples - first)
    assert_exact_outside_gaps(source, pcm, gaps)
    # Only an interior loss shows in sequence numbers; a lost first or last frame is an edge gap.
    assert stats.frames_missing == (1 if 0 < i < len(frames) - 1 else 0)
