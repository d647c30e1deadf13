"""Train and evaluate the crackle model; one command reproduces the shipped model.

    nice -n 10 python -m audio_models.train --out edge/bundled_models --seed 0

writes ``auscultation.pt`` (PyTorch weights), ``auscultation_eval.json`` (metrics) and
then exports ONNX FP32 + INT8 and the manifest (:mod:`audio_models.export`).

Data (all splits are by patient; every synthetic recording is its own "patient"):

* train: synthetic 4 s windows from seed ``s``, plus 4 s crops of real ICBHI recordings
  of training patients, taken from cycles annotated without crackles, half of them left
  as negatives and half with synthetic crackles inserted at their breath cycles;
* validation: synthetic recordings from seed ``s + 1`` (chooses the operating threshold);
* test: synthetic recordings from seeds ``s + 2`` (SNR 10-30 dB) and ``s + 3``
  (SNR 0-30 dB), scored end to end (windows + aggregation) as the service does, and the
  real ICBHI recordings of held-out patients.

Training/export module: imports torch. Single-threaded by design (shared CPU).
"""

import argparse
import json
import logging
import pathlib

import numpy as np
import torch
from torch.nn import functional as F

from audio_models import metrics, synthetic, windows
from audio_models.datasets.icbhi import load_icbhi, patient_split
from audio_models.errors import DatasetError
from audio_models.io import load_audio
from audio_models.model import FRAME_S, N_OUT_FRAMES, WINDOW_SAMPLES, CrackleNet, count_parameters

logger = logging.getLogger(__name__)

RATE = 4000
DEFAULT_ICBHI = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "icbhi_sample"


def frame_targets(events, *, offset_s=0.0):
    """Per-frame 0/1 targets (125 frames of 32 ms) for crackle events in a 4 s window."""
    target = np.zeros(N_OUT_FRAMES, dtype=np.float32)
    for event in events:
        start = event.onset_s - offset_s
        first, last = int(np.floor(start / FRAME_S)), int(np.floor((start + event.duration_s) / FRAME_S))
        if last >= 0 and first < N_OUT_FRAMES:
            target[max(first, 0) : min(last, N_OUT_FRAMES - 1) + 1] = 1.0
    return target


def synthetic_windows(n, *, seed):
    """``n`` synthetic 4 s training windows: samples, frame targets, window labels."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, WINDOW_SAMPLES), dtype=np.float32)
    y = np.zeros((n, N_OUT_FRAMES), dtype=np.float32)
    for i in range(n):
        rec = synthetic.synthesize(rng, duration_s=WINDOW_SAMPLES / RATE, crackles=bool(rng.random() < 0.6))
        x[i] = rec.samples
        y[i] = frame_targets(rec.events)
    return x, y


def real_background_windows(recordings, n, *, seed):
    """4 s crops of real crackle-free cycles; half get synthetic crackles inserted."""
    rng = np.random.default_rng(seed)
    pools = []
    for rec in recordings:
        samples, _ = load_audio(rec.path)
        for cycle in rec.cycles:
            if not cycle.crackles:
                pools.append((samples, rec.cycles, cycle))
    if not pools:
        raise DatasetError("no crackle-free ICBHI cycles to use as real backgrounds")
    x = np.zeros((n, WINDOW_SAMPLES), dtype=np.float32)
    y = np.zeros((n, N_OUT_FRAMES), dtype=np.float32)
    for i in range(n):
        samples, cycles, cycle = pools[rng.integers(len(pools))]
        centre = rng.uniform(cycle.start_s, cycle.end_s)
        start = int(np.clip((centre - 2.0) * RATE, 0, max(len(samples) - WINDOW_SAMPLES, 0)))
        crop = np.pad(samples[start : start + WINDOW_SAMPLES], (0, max(0, WINDOW_SAMPLES - len(samples) + start)))
        offset = start / RATE
        clean = [(c.start_s - offset, c.end_s - offset) for c in cycles if not c.crackles]
        if rng.random() < 0.5:
            crop, events = synthetic.add_crackles_to_background(rng, crop, cycles=clean, kind=rng.choice(["fine", "coarse"], p=[0.8, 0.2]))
            y[i] = frame_targets(events)
        x[i] = crop * 10 ** (rng.uniform(-10, 10) / 20)
    return x, y


def _augment(x, y, rng):
    """Polarity flip, frame-aligned circular shift, extra white noise (30 % of windows)."""
    x = x * rng.choice([-1.0, 1.0], size=(len(x), 1)).astype(np.float32)
    shift = rng.integers(0, N_OUT_FRAMES)
    x = np.roll(x, shift * (WINDOW_SAMPLES // N_OUT_FRAMES), axis=1)
    y = np.roll(y, shift, axis=1)
    noisy = rng.random(len(x)) < 0.3
    rms = np.sqrt(np.mean(x[noisy] ** 2, axis=1, keepdims=True))
    snr = rng.uniform(5, 30, size=(int(noisy.sum()), 1))
    x[noisy] += (rms * 10 ** (-snr / 20) * rng.standard_normal((int(noisy.sum()), WINDOW_SAMPLES))).astype(np.float32)
    return x, y


def fit(model, x, y, *, epochs, seed, batch_size=64, lr=3e-3):
    """Train on frame targets (BCE per frame) and window labels (BCE on the pooled value)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for b in range(len(x) // batch_size):
            idx = order[b * batch_size : (b + 1) * batch_size]
            xb, yb = _augment(x[idx], y[idx], rng)
            xb, yb = torch.from_numpy(xb), torch.from_numpy(yb)
            logits = model.frame_logits(xb)
            frames = torch.sigmoid(logits)
            window = ((frames * frames).sum(1) / (frames.sum(1) + 1e-6)).clamp(1e-6, 1 - 1e-6)
            loss = F.binary_cross_entropy_with_logits(logits, yb) + F.binary_cross_entropy(window, yb.max(1).values)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        logger.info("epoch %s/%s loss %.4f", epoch + 1, epochs, float(np.mean(losses)))
    model.eval()
    return model


@torch.no_grad()
def score_recording(model, samples):
    """Recording probability, window probabilities and starts, as the service computes them."""
    wins, starts = windows.split_windows(samples, sample_rate=RATE)
    window_p, _ = model(torch.from_numpy(wins))
    return windows.aggregate_windows(window_p.numpy()), window_p.numpy(), starts


def synthetic_recordings(n, *, seed, snr_db_range):
    """Held-out synthetic recordings of 8-20 s; half with crackles."""
    rng = np.random.default_rng(seed)
    return [synthetic.synthesize(rng, duration_s=float(rng.uniform(8, 20)), crackles=bool(i % 2), snr_db_range=snr_db_range)
            for i in range(n)]


def evaluate_synthetic(model, recordings, *, threshold, name):
    """Recording-level AUC (95 % CI) and the operating point on synthetic recordings."""
    labels = [r.label for r in recordings]
    scores = [score_recording(model, r.samples)[0] for r in recordings]
    return {"dataset": name, **metrics.auc_with_ci(labels, scores), **metrics.operating_point(labels, scores, threshold=threshold)}


@torch.no_grad()
def evaluate_icbhi(model, recordings, *, threshold, name):
    """Per-cycle crackle detection on real ICBHI recordings (4 s window centred on each cycle).

    The official ICBHI score is the mean of sensitivity over abnormal cycles (4 classes)
    and specificity over normal ones; this model detects crackles only, so the score
    given is the same formula for the crackle/no-crackle question, named accordingly.
    """
    labels, scores, per_file = [], [], {}
    for rec in recordings:
        samples, _ = load_audio(rec.path)
        file_scores = []
        for cycle in rec.cycles:
            centre = int((cycle.start_s + cycle.end_s) / 2 * RATE)
            start = int(np.clip(centre - WINDOW_SAMPLES // 2, 0, max(len(samples) - WINDOW_SAMPLES, 0)))
            crop = np.pad(samples[start : start + WINDOW_SAMPLES], (0, max(0, start + WINDOW_SAMPLES - len(samples))))
            p = float(model(torch.from_numpy(crop[None]))[0])
            labels.append(int(cycle.crackles))
            scores.append(p)
            file_scores.append({"start_s": cycle.start_s, "end_s": cycle.end_s, "crackles": cycle.crackles,
                                "wheezes": cycle.wheezes, "crackle_probability": round(p, 4)})
        per_file[rec.path.stem] = {"recording_probability": score_recording(model, samples)[0], "cycles": file_scores}
    result = {"dataset": name, "per_file": per_file, **metrics.operating_point(labels, scores, threshold=threshold)}
    if result["sensitivity"] is not None and result["specificity"] is not None:
        result["crackle_icbhi_style_score"] = round((result["sensitivity"] + result["specificity"]) / 2, 4)
        result["auc"] = round(metrics.roc_auc(labels, scores), 4)
    return result


def main(argv=None):
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("edge/bundled_models"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-synthetic", type=int, default=5000)
    parser.add_argument("--n-real", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-eval", type=int, default=200, help="recordings per held-out synthetic set")
    parser.add_argument("--icbhi", type=pathlib.Path, default=DEFAULT_ICBHI)
    parser.add_argument("--no-export", action="store_true", help="stop after training and evaluation")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    seed = args.seed

    x, y = synthetic_windows(args.n_synthetic, seed=seed)
    train_real, test_real = [], []
    if args.icbhi.is_dir():
        recordings = load_icbhi(args.icbhi)
        split = patient_split(recordings, seed=seed)
        train_real = [r for r in recordings if split[r.path.stem] == "train"]
        test_real = [r for r in recordings if split[r.path.stem] == "test"]
        xr, yr = real_background_windows(train_real, args.n_real, seed=seed + 10)
        x, y = np.concatenate([x, xr]), np.concatenate([y, yr])
    else:
        logger.warning("no ICBHI folder at %s: training on synthetic data only", args.icbhi)
    logger.info("training on %s windows (%s with crackles)", len(x), int(y.max(1).sum()))

    model = fit(CrackleNet(), x, y, epochs=args.epochs, seed=seed)
    validation = synthetic_recordings(args.n_eval, seed=seed + 1, snr_db_range=(0.0, 30.0))
    threshold = metrics.youden_threshold([r.label for r in validation], [score_recording(model, r.samples)[0] for r in validation])
    report = {
        "model": "auscultation", "parameters": count_parameters(model), "seed": seed,
        "threshold": round(threshold, 4), "threshold_chosen_on": f"synthetic validation recordings, seed {seed + 1}, Youden J",
        "training": {"synthetic_windows": args.n_synthetic, "synthetic_seed": seed, "real_windows": len(x) - args.n_synthetic,
                     "real_patients": sorted({r.patient_id for r in train_real}), "epochs": args.epochs},
        "synthetic_heldout_snr10_30": evaluate_synthetic(model, synthetic_recordings(args.n_eval, seed=seed + 2, snr_db_range=(10.0, 30.0)),
                                                         threshold=threshold, name=f"synthetic recordings 8-20 s, seed {seed + 2}, SNR 10-30 dB"),
        "synthetic_heldout_snr0_30": evaluate_synthetic(model, synthetic_recordings(args.n_eval, seed=seed + 3, snr_db_range=(0.0, 30.0)),
                                                        threshold=threshold, name=f"synthetic recordings 8-20 s, seed {seed + 3}, SNR 0-30 dB"),
    }
    if test_real:
        report["icbhi_heldout_patients"] = evaluate_icbhi(model, test_real, threshold=threshold,
                                                          name=f"ICBHI 2017 sample, held-out patients {sorted({r.patient_id for r in test_real})}")
    if train_real:
        report["icbhi_training_patients"] = evaluate_icbhi(model, train_real, threshold=threshold,
                                                           name="ICBHI 2017 sample, patients whose crackle-free cycles were training backgrounds")
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / "auscultation.pt")
    (args.out / "auscultation_eval.json").write_text(json.dumps(report, indent=2) + "\n")
    logger.info("AUC SNR 10-30 dB: %s", report["synthetic_heldout_snr10_30"]["auc"])
    if not args.no_export:
        from audio_models import export

        export.export_all(args.out, model=model, seed=seed)


if __name__ == "__main__":
    main()
