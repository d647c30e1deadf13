"""How far the crackle model's figures move with its training seed alone: train the shipped recipe
under other seeds and score each model, and the shipped one, on the **validation** patients of the
shipped split, per population; print JSON.

    python -m audio_models.seed_spread --seeds 1 2 --out runs/seed_spread --threads 1

Why: the evidence figures come from one training run. Its bootstrap interval covers the luck of which
patients were tested, not the luck of the run's seed (initial weights, batches, augmentation), and the
same recipe under another seed can rank the few validation patients with crackles differently. This
command makes that spread a number anyone can reproduce, so a recipe change is judged against it.

What each model gets (:func:`model_figures`): per population (adults; children of each SPRSound
release) the patient AUC under the screening's patient rule (:func:`audio_models.validation.patient_auc`,
the figure the recipe chooses its input noise by) and the recording AUC, on validation patients only:
the test part stays unseen. Recordings are scored as :func:`audio_models.train.choose_input_noise`
scores them: the shipped input noise (``population_input_noise`` of ``--shipped``'s manifest) and no
learned-quality refusal, because each model's quality threshold, calibration and crackle threshold are
its own and an AUC does not depend on them (the rule-based gate still refuses what it refuses).
``shipped`` is the bundled model: seed 0 of the recipe with two threads (bit-identical, see
``audio_models/README.md``); a seed trained here with another thread count is close, not identical.

``--ensemble`` also scores the models together (each output averaged over them), as ``ensemble``; it
is left out of the spread, which is over single models. An ensemble of N models costs N times one
model's time a recording (``ildscreen bench audio`` holds the budget).

Cost: about 30 minutes of one CPU thread a seed (the recipe's 1,600 steps) and a few minutes of scoring
a model. Each seed's weights are saved in ``--out`` as ``seed<N>.pt``; ``--reuse-weights`` scores the
ones already there instead of training them again. Training module: imports torch.
"""

import argparse
import json
import logging
import pathlib

import numpy as np
import torch

from audio_models import export, train, validation
from audio_models.model import load_weights
from evaluation.errors import EvaluationError

logger = logging.getLogger(__name__)

BUNDLED = pathlib.Path(__file__).resolve().parents[1] / "edge" / "bundled_models"
#: The split the shipped model was validated on (``audio_models.train --seed 0``).
SPLIT_SEED = 0
#: Any threshold: only the AUCs are read, and they do not depend on it.
_ANY_THRESHOLD = 0.5


def model_figures(rows):
    """``{population: {patient_auc, recording_auc, patients, positive_patients}}`` of one model's scored
    validation rows (:func:`audio_models.validation.score_variants`); an AUC is None where a population
    lacks one class."""
    figures = {}
    for population, members in sorted(validation.by_population(rows).items()):
        patients = [p for p in validation.patient_scores(members).values() if p["assessable"]]
        try:
            recording_auc = validation.recording_metrics(members, threshold=_ANY_THRESHOLD).get("auc")
        except EvaluationError:  # no accepted recording with a crackle label
            recording_auc = None
        patient_auc = validation.patient_auc(members)
        figures[population] = {"patient_auc": None if patient_auc is None else round(float(patient_auc), 4),
                               "recording_auc": recording_auc, "patients": len(patients),
                               "positive_patients": sum(p["label"] for p in patients)}
    return figures


def spread(figures_by_model):
    """Per population and figure, ``{min, max, range, mean}`` over the models that have it.

    Examples
    --------
    >>> spread({"a": {"adults": {"patient_auc": 0.8}}, "b": {"adults": {"patient_auc": 0.9}}})
    {'adults': {'patient_auc': {'min': 0.8, 'max': 0.9, 'range': 0.1, 'mean': 0.85, 'models': 2}}}
    """
    result = {}
    for figures in figures_by_model.values():
        for population, values in figures.items():
            for name in ("patient_auc", "recording_auc"):
                if values.get(name) is not None:
                    result.setdefault(population, {}).setdefault(name, []).append(values[name])
    return {population: {name: {"min": min(v), "max": max(v), "range": round(max(v) - min(v), 4),
                                "mean": round(float(np.mean(v)), 4), "models": len(v)}
                         for name, v in by_name.items()}
            for population, by_name in sorted(result.items())}


def averaged_runner(runs):
    """One ``run`` whose every output is the mean of ``runs``' outputs: the models as an ensemble.

    Examples
    --------
    >>> run = averaged_runner([lambda feed: {"p": np.array([0.2])}, lambda feed: {"p": np.array([0.6])}])
    >>> run({})["p"].round(3).tolist()
    [0.4]
    """
    def run(feed):
        outputs = [each(feed) for each in runs]
        return {name: np.mean([output[name] for output in outputs], axis=0) for name in outputs[0]}

    return run


def seed_model(parts, *, seed, steps, out, reuse):
    """The recipe's model for ``seed``: ``out/seed<N>.pt`` when ``reuse`` and it exists, else trained
    (:func:`audio_models.train.train_recipe`) and saved there."""
    weights = out / f"seed{seed}.pt"
    if reuse and weights.is_file():
        logger.info("seed %s: scoring the weights in %s", seed, weights)
        return load_weights(weights)
    model = train.train_recipe(parts["train"], seed=seed, steps=steps)
    torch.save(model.state_dict(), weights)
    return model


def main(argv=None):
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="training seeds of the recipe to compare")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for seed<N>.pt and seed_spread.json")
    parser.add_argument("--data", type=pathlib.Path, default=train.SHARED_DATA,
                        help="folder with sprsound2022/, sprsound2022_test/ and kauh/ (default ../shared/data)")
    parser.add_argument("--shipped", type=pathlib.Path, default=BUNDLED,
                        help="model folder whose auscultation.pt and manifest.json are the reference (default: bundled)")
    parser.add_argument("--steps", type=int, default=train.STEPS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse-weights", action="store_true", help="score seed<N>.pt already in --out instead of training")
    parser.add_argument("--ensemble", action="store_true",
                        help="also score the average of every model's outputs (it costs their number times one model's time)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    entry = json.loads((args.shipped / "manifest.json").read_text())["models"][export.MODEL_NAME]
    scoring_entry = {**export.entry_template(), "population_input_noise": entry.get("population_input_noise") or {}}
    parts = train.load_parts(args.data, seed=SPLIT_SEED)
    models = {"shipped": lambda: load_weights(args.shipped / "auscultation.pt")}
    for seed in args.seeds:
        models[f"seed{seed}"] = lambda seed=seed: seed_model(parts, seed=seed, steps=args.steps, out=args.out,
                                                             reuse=args.reuse_weights)
    runs = {name: train.torch_runner(build()) for name, build in models.items()}
    if args.ensemble:
        runs["ensemble"] = averaged_runner(list(runs.values()))
    # Each recording decoded once and scored by every model.
    figures = {}
    for name, rows in validation.score_variants(parts["validation"], runs=runs, entry=scoring_entry).items():
        figures[name] = model_figures(rows)
        logger.info("%s: %s", name, figures[name])
    report = {"part": "validation", "split_seed": SPLIT_SEED, "steps": args.steps, "threads": args.threads,
              "shipped": {"version": entry.get("version"), "training_seed": entry.get("training_data", {}).get("seed")},
              "input_noise": scoring_entry["population_input_noise"], "learned_quality_refusal": False,
              "models": figures, "spread": spread({name: value for name, value in figures.items() if name != "ensemble"})}
    text = json.dumps(report, indent=2)
    (args.out / "seed_spread.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
