"""Train, calibrate and validate the crackle model on real recordings; one command reproduces
the shipped model:

    python -m audio_models.train --out edge/bundled_models --seed 0

Data: SPRSound 2022 (``../shared/data/sprsound2022``, or ``--sprsound DIR`` with the official
release), split by patient with :func:`audio_models.datasets.sprsound.patient_split` (seed,
60/20/20, stratified by whether a patient has fine crackles):

* **train** patients: 4 s windows at random offsets; frame targets are the experts' fine-crackle
  events; coarse-crackle and wheeze+crackle events are neither class (left out of the loss);
  "Poor Quality" recordings, which carry no event labels, train only the quality head.
* **validation** patients: the recording probability is calibrated there (Platt scaling of the
  top-2 window score), and there the operating threshold (the lowest with specificity >= 0.90)
  and the quality head's threshold (refusing at most 5 % of good recordings) are chosen.
* **test** patients: never seen before the final report, which scores them through the
  exported ONNX models exactly as ``ildscreen audio evaluate`` does.

Robustness (applied to training windows only): polarity and level, band limits (low-pass
0.7-2 kHz like a bell or a 4 kHz stethoscope, high-pass 20-200 Hz), spectral tilt and
resonances (other chest pieces), white/pink/brown noise at 5-35 dB SNR, and crackle-free
synthetic sounds (:mod:`audio_models.synthetic`: breath noise, wheezes, heart sounds, handling
and ambient noise, speech-like babble) mixed in as negatives. Synthetic crackles are not used.

Training/export module: imports torch. Two CPU threads; float results are reproducible on one
machine and torch build, not bit-exact across them (see ``audio_models/README.md``).
"""

import argparse
import logging
import pathlib

import numpy as np
import torch
from torch.nn import functional as F

from audio_models import export, synthetic, validation
from audio_models.datasets.sprsound import FINE_CRACKLE, load_sprsound, patient_split
from audio_models.export import INPUT_NAME, OUTPUT_NAMES
from audio_models.io import load_audio
from audio_models.model import FRAME_S, N_OUT_FRAMES, SAMPLE_RATE, WINDOW_SAMPLES, CrackleNet
from audio_models.scoring import calibrate_score
from evaluation.calibration import fit_platt
from evaluation.metrics import roc_points

logger = logging.getLogger(__name__)

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
#: Crackles of another or an unknown kind: neither a positive nor a negative frame.
IGNORED_EVENTS = ("Coarse Crackle", "Wheeze+Crackle")
#: Operating point chosen on validation patients (a programme choice, stated in the manifest).
TARGET_SPECIFICITY = 0.90
#: Share of good validation recordings the learned quality head may refuse.
QUALITY_FALSE_REFUSAL = 0.05


def frame_targets(events, *, offset_s=0.0, types=(FINE_CRACKLE,)):
    """Per-frame 0/1 targets (125 frames of 32 ms) for events of ``types`` in a 4 s window."""
    target = np.zeros(N_OUT_FRAMES, dtype=np.float32)
    for event in events:
        if getattr(event, "type", FINE_CRACKLE) not in types:
            continue
        start = event.onset_s - offset_s
        first, last = int(np.floor(start / FRAME_S)), int(np.floor((start + event.duration_s) / FRAME_S))
        if last >= 0 and first < N_OUT_FRAMES:
            target[max(first, 0) : min(last, N_OUT_FRAMES - 1) + 1] = 1.0
    return target


class WindowSampler:
    """Draws training windows at random offsets from whole recordings (held in memory at 4 kHz).

    A batch is ``(pcm, frame_target, frame_mask, poor_quality)``; windows holding fine crackles
    are drawn with probability ``positive_share`` so the rare class is seen often enough.
    """

    def __init__(self, recordings, samples, *, positive_share=0.35):
        self.recordings = recordings
        self.samples = samples
        self.positive = [i for i, r in enumerate(recordings) if r.has_fine_crackles]
        self.other = [i for i, r in enumerate(recordings) if not r.has_fine_crackles]
        self.positive_share = positive_share

    def window(self, index, rng):
        recording, samples = self.recordings[index], self.samples[index]
        if len(samples) <= WINDOW_SAMPLES:
            start = 0
        elif recording.has_fine_crackles:
            # Centre a random fine-crackle event, jittered, so the window holds it.
            event = recording.fine_crackle_events[rng.integers(len(recording.fine_crackle_events))]
            centre = rng.uniform(event.start_s, event.end_s) * SAMPLE_RATE + rng.uniform(-1.5, 1.5) * SAMPLE_RATE
            start = int(np.clip(centre - WINDOW_SAMPLES / 2, 0, len(samples) - WINDOW_SAMPLES))
        else:
            start = int(rng.integers(0, len(samples) - WINDOW_SAMPLES + 1))
        pcm = np.pad(samples[start : start + WINDOW_SAMPLES], (0, max(0, start + WINDOW_SAMPLES - len(samples))))
        offset = start / SAMPLE_RATE
        target = frame_targets(recording.events, offset_s=offset)
        ignored = frame_targets(recording.events, offset_s=offset, types=IGNORED_EVENTS)
        mask = np.where((ignored > 0) & (target == 0), 0.0, 1.0).astype(np.float32)
        if recording.poor_quality:
            mask[:] = 0.0
        return pcm, target, mask, float(recording.poor_quality)

    def batch(self, rng, size):
        picks = [self.positive[rng.integers(len(self.positive))] if rng.random() < self.positive_share
                 else self.other[rng.integers(len(self.other))] for _ in range(size)]
        parts = list(zip(*(self.window(i, rng) for i in picks)))
        return tuple(np.stack(part).astype(np.float32) for part in parts)


def _spectral_filter(x, rng):
    """Band limits, tilt and a resonance, in one FFT per window (each with its own probability)."""
    spectrum = np.fft.rfft(x, axis=1)
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / SAMPLE_RATE)[None, :]
    gain = np.ones((len(x), freqs.shape[1]))
    for i in range(len(x)):
        if rng.random() < 0.3:
            cutoff = rng.uniform(700, 2000)
            gain[i] /= np.sqrt(1 + (freqs[0] / cutoff) ** (2 * rng.uniform(2, 6)))
        if rng.random() < 0.3:
            corner = rng.uniform(20, 200)
            gain[i] *= 1 / np.sqrt(1 + (corner / np.maximum(freqs[0], 1.0)) ** 4)
        if rng.random() < 0.5:
            gain[i] *= (np.maximum(freqs[0], 50.0) / 500.0) ** rng.uniform(-1.0, 1.0)
        if rng.random() < 0.3:
            centre, width, db = rng.uniform(100, 1500), rng.uniform(50, 400), rng.uniform(-12, 12)
            gain[i] *= 10 ** (db * np.exp(-0.5 * ((freqs[0] - centre) / width) ** 2) / 20)
    return np.fft.irfft(spectrum * gain, n=x.shape[1], axis=1).astype(np.float32)


def _coloured_noise(rng, n):
    kind = rng.integers(3)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 1.0)
    noise = np.fft.irfft(spectrum / freqs ** (0.5 * kind), n=n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def augment(x, rng, distractors):
    """Training-time robustness; labels are unchanged (no augmentation adds or hides crackles)."""
    x = x * rng.choice([-1.0, 1.0], size=(len(x), 1)).astype(np.float32)
    x = _spectral_filter(x, rng)
    rms = np.sqrt(np.mean(x**2, axis=1)) + 1e-9
    for i in range(len(x)):
        if rng.random() < 0.4:
            snr = rng.uniform(5, 35)
            x[i] += (rms[i] * 10 ** (-snr / 20) * _coloured_noise(rng, x.shape[1])).astype(np.float32)
        if rng.random() < 0.3:
            sound = distractors[rng.integers(len(distractors))]
            level = rng.uniform(-15, 0)
            x[i] += (rms[i] * 10 ** (level / 20) * sound / (np.sqrt(np.mean(sound**2)) + 1e-12)).astype(np.float32)
    return x * 10 ** (rng.uniform(-20, 20, size=(len(x), 1)) / 20).astype(np.float32)


def distractor_pool(n, *, seed):
    """Crackle-free synthetic 4 s sounds (breath, wheezes, heart, handling, ambient noise)."""
    rng = np.random.default_rng(seed)
    return [synthetic.synthesize(rng, duration_s=WINDOW_SAMPLES / SAMPLE_RATE, crackles=False).samples for _ in range(n)]


def fit(model, sampler, *, steps, seed, distractors, batch_size=64, lr=3e-3, quality_weight=0.5):
    """Frame BCE (masked) + window BCE on the pooled value + the quality head's BCE."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    model.train()
    losses = []
    for step in range(steps):
        pcm, target, mask, poor = sampler.batch(rng, batch_size)
        pcm = torch.from_numpy(augment(pcm, rng, distractors))
        target, mask, poor = torch.from_numpy(target), torch.from_numpy(mask), torch.from_numpy(poor)
        frame_logits, quality_logits = model.logits(pcm)
        frames = torch.sigmoid(frame_logits)
        window = ((frames * frames).sum(1) / (frames.sum(1) + 1e-6)).clamp(1e-6, 1 - 1e-6)
        frame_loss = (F.binary_cross_entropy_with_logits(frame_logits, target, reduction="none") * mask).sum() / mask.sum().clamp(min=1)
        labelled = mask.min(1).values
        window_loss = (F.binary_cross_entropy(window, target.max(1).values, reduction="none") * labelled).sum() / labelled.sum().clamp(min=1)
        loss = frame_loss + window_loss + quality_weight * F.binary_cross_entropy_with_logits(quality_logits, poor)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0:
            logger.info("step %s/%s loss %.4f", step + 1, steps, float(np.mean(losses[-100:])))
    model.eval()
    return model


def torch_runner(model):
    """``run({"pcm": windows})`` for :mod:`audio_models.scoring`, from the PyTorch model."""
    @torch.no_grad()
    def run(feed):
        outputs = model(torch.from_numpy(np.asarray(feed[INPUT_NAME], dtype=np.float32)))
        return {name: tensor.numpy() for name, tensor in zip(OUTPUT_NAMES, outputs)}

    return run


def threshold_at_specificity(labels, probabilities, specificity):
    """The lowest threshold whose specificity on these cases is at least ``specificity``."""
    fpr, _, thresholds = roc_points(labels, probabilities)
    allowed = np.flatnonzero(fpr <= 1 - specificity + 1e-12)
    return float(thresholds[allowed[-1]])


def choose_operating_points(rows, *, entry):
    """Calibration, crackle threshold and quality threshold from validation patients' rows."""
    rated = [row for row in rows if not row["poor_quality"] and row["recording_score"] is not None]
    labels = np.array([row["label"] for row in rated])
    calibration = fit_platt(labels, [row["recording_score"] for row in rated])
    entry = {**entry, "calibration": calibration}
    probabilities = np.array([calibrate_score(row["recording_score"], calibration) for row in rated])
    threshold = threshold_at_specificity(labels, probabilities, TARGET_SPECIFICITY)
    good_poor = sorted(row["poor_quality_probability"] for row in rows
                       if not row["poor_quality"] and row["poor_quality_probability"] is not None)
    quality_threshold = float(np.quantile(good_poor, 1 - QUALITY_FALSE_REFUSAL))
    return calibration, round(threshold, 6), round(quality_threshold, 6)


def main(argv=None):
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("edge/bundled_models"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sprsound", type=pathlib.Path, default=SHARED_DATA / "sprsound2022")
    parser.add_argument("--icbhi", type=pathlib.Path, nargs="*",
                        default=[SHARED_DATA / "icbhi_sample", SHARED_DATA / "icbhi_extra"])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse-weights", action="store_true",
                        help="skip training: calibrate, validate and export the auscultation.pt already in --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)

    recordings = load_sprsound(args.sprsound)
    split = patient_split(recordings, seed=args.seed, fractions=SPLIT_FRACTIONS)
    parts = {name: [r for r in recordings if split[r.patient_id] == name] for name in ("train", "validation", "test")}
    train = parts["train"]
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "auscultation.pt"
    if args.reuse_weights:
        model = CrackleNet()
        model.load_state_dict(torch.load(weights, weights_only=True))
        model.eval()
    else:
        sampler = WindowSampler(train, [load_audio(r.path)[0] for r in train])
        logger.info("training on %s recordings of %s patients", len(train), len({r.patient_id for r in train}))
        model = fit(CrackleNet(), sampler, steps=args.steps, seed=args.seed,
                    distractors=distractor_pool(400, seed=args.seed + 1))
        torch.save(model.state_dict(), weights)

    base_entry = export.entry_template()
    val_rows = validation.score_recordings(parts["validation"], run=torch_runner(model), entry=base_entry)
    calibration, threshold, quality_threshold = choose_operating_points(val_rows, entry=base_entry)
    logger.info("calibration %s, threshold %s, quality threshold %s", calibration, threshold, quality_threshold)
    training = {"seed": args.seed, "steps": args.steps, "split_fractions": list(SPLIT_FRACTIONS),
                "patients": {name: len({r.patient_id for r in part}) for name, part in parts.items()},
                "recordings": {name: len(part) for name, part in parts.items()},
                "target_specificity": TARGET_SPECIFICITY, "quality_false_refusal": QUALITY_FALSE_REFUSAL}
    export.export_all(args.out, model=model, seed=args.seed, calibration=calibration, threshold=threshold,
                      quality_threshold=quality_threshold, training=training, sprsound=args.sprsound,
                      icbhi=[path for path in args.icbhi if path.is_dir()])


if __name__ == "__main__":
    main()
