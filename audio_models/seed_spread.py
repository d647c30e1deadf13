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

``--input-noise-study`` answers issue 24's two questions instead, on the same validation patients and
models (:func:`input_noise_study`; the rule was fixed before its figures, ``audio_models/README.md``):
does noise shaped like the recording (``input_noise.shape = "recording"``) serve the adults better than
the shipped white noise, each at the level :func:`audio_models.train.choose_input_noise`'s rule picks;
and is the mean of the two highest windows the best recording score (:data:`RECORDING_SCORES`)? It
prints ``input_noise_study.json``: per model, per population and, for adults, per filter mode, and what
the rule decides. Its models are scored through ONNX Runtime FP32 (the service's path, exported into
``--out``), about four times faster than PyTorch here.

``--bn-adaptation-study`` answers issue 24's question on adult-domain BatchNorm statistics
(:func:`bn_adaptation_study`; the rule was fixed before its figures, ``audio_models/README.md``): the
validation adults scored with BatchNorm running statistics re-estimated, without labels, from other
adults' audio (the other validation adults, all filter modes or the judged recording's mode only, each
patient left out of their own; or the ICBHI adults) against the shipped ones. It prints
``bn_adaptation_study.json``, scored through PyTorch (the statistics are set on a copy of each model).

Data: the training command's options (:func:`audio_models.train.add_data_arguments`): ``--data``, once
per folder (a clinic's labelled takes beside the shared data), and ``--labelled-fractions``, split as
training splits them at seed 0; a labelled folder's validation patients are a population of their own.

Cost: about 30 minutes of one CPU thread a seed (the recipe's 1,600 steps) and a few minutes of scoring
a model. Each seed's weights are saved in ``--out`` as ``seed<N>.pt``; ``--reuse-weights`` scores the
ones already there instead of training them again. Training module: imports torch.
"""

import argparse
import concurrent.futures
import copy
import json
import logging
import multiprocessing
import pathlib

import numpy as np
import torch

from audio_models import export, scoring, train, validation, windows
from audio_models.datasets import splits
from audio_models.datasets.icbhi import ICBHI_FOLDERS, load_icbhi
from audio_models.io import read_audio
from audio_models.model import load_weights
from evaluation.errors import EvaluationError

logger = logging.getLogger(__name__)

BUNDLED = pathlib.Path(__file__).resolve().parents[1] / "edge" / "bundled_models"
#: The split the shipped model was validated on (``audio_models.train --seed 0``).
SPLIT_SEED = 0


def aucs(rows):
    """``{patient_auc, recording_auc}`` of scored rows: the screening's patient rule and per recording;
    None where a class is missing."""
    patient_auc = validation.patient_auc(rows)
    return {"patient_auc": None if patient_auc is None else round(float(patient_auc), 4),
            "recording_auc": validation.recording_auc(rows)}


def model_figures(rows):
    """``{population: {patient_auc, recording_auc, patients, positive_patients}}`` of one model's scored
    validation rows (:func:`audio_models.validation.score_variants`); an AUC is None where a population
    lacks one class."""
    figures = {}
    for population, members in sorted(validation.by_population(rows).items()):
        patients = [p for p in validation.patient_scores(members).values() if p["assessable"]]
        figures[population] = {**aucs(members), "patients": len(patients),
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


#: Noise shapes the study compares for adults (:func:`audio_models.scoring.noisy_copies`).
STUDY_SHAPES = ("white", "recording")
#: The rule fixed before the study's figures (``audio_models/README.md``): a candidate must beat the
#: shipped choice's mean patient AUC over the models by this much, and no model may lose more than
#: :data:`STUDY_MAX_LOSS` of it (programme assumptions: the seed alone moves a patient AUC by 0.08-0.19).
STUDY_MIN_GAIN = 0.05
STUDY_MAX_LOSS = 0.05
#: A recording score must not lower a children's release's mean AUCs by more than this.
STUDY_CHILDREN_TOLERANCE = 0.01
#: Recording scores the study compares, each from a scored row: ``top2`` is the shipped one
#: (:func:`audio_models.windows.aggregate_windows`); the fractions of windows or 32 ms frames at 0.5 or
#: more count crackles that recur breath after breath.
RECORDING_SCORES = {
    "top2": lambda row: windows.aggregate_windows(row["window_probabilities"]),
    "top1": lambda row: windows.aggregate_windows(row["window_probabilities"], top_k=1),
    "mean": lambda row: float(np.mean(row["window_probabilities"])),
    "windows_over_half": lambda row: float(np.mean(np.asarray(row["window_probabilities"]) >= 0.5)),
    "frames_over_half": lambda row: float(np.mean(np.asarray(row["frame_map"]) >= 0.5)),
}


def rescored(rows, score):
    """``rows`` with each scored recording's ``crackle_probability`` replaced by ``score(row)``, so their
    AUCs are that recording score's (the shipped Platt calibration is monotone and changes no AUC)."""
    return [row if row["crackle_probability"] is None else {**row, "crackle_probability": score(row)} for row in rows]


def figures_by_mode(rows):
    """:func:`aucs` of ``rows`` and, under ``by_filter_mode``, of each device / filter mode's rows."""
    modes = sorted({row["device"] for row in rows})
    return {**aucs(rows), "by_filter_mode": {mode: aucs([row for row in rows if row["device"] == mode])
                                             for mode in modes}}


def mean_figures(figures):
    """The mean of several same-shaped figure dicts (one per noise seed), leaf by leaf; None where any is.

    Examples
    --------
    >>> mean_figures([{"a": 0.5, "b": {"c": None}}, {"a": 0.7, "b": {"c": 0.1}}])
    {'a': 0.6, 'b': {'c': None}}
    """
    first = figures[0]
    if isinstance(first, dict):
        return {key: mean_figures([each[key] for each in figures]) for key in first}
    return None if any(v is None for v in figures) else round(float(np.mean(figures)), 4)


def judge(candidate, baseline, *, recording=True):
    """The pre-registered test of ``candidate`` against ``baseline`` (each ``{model: {patient_auc,
    recording_auc}}`` over the same models): the mean patient AUC gains at least :data:`STUDY_MIN_GAIN`,
    (when ``recording``) the mean recording AUC is not lower, and no model loses more than
    :data:`STUDY_MAX_LOSS` of patient AUC. A missing figure fails it.

    Examples
    --------
    >>> base = {"s0": {"patient_auc": 0.7, "recording_auc": 0.6}, "s1": {"patient_auc": 0.8, "recording_auc": 0.7}}
    >>> better = {"s0": {"patient_auc": 0.8, "recording_auc": 0.6}, "s1": {"patient_auc": 0.8, "recording_auc": 0.7}}
    >>> judge(better, base)["adopt"], judge(base, better)["adopt"]
    (True, False)
    """
    models = sorted(baseline)

    def mean(figures, key):
        values = [figures[m][key] for m in models]
        return None if None in values else round(float(np.mean(values)), 4)

    gains = {m: (None if None in (candidate[m]["patient_auc"], baseline[m]["patient_auc"])
                 else round(candidate[m]["patient_auc"] - baseline[m]["patient_auc"], 4)) for m in models}
    result = {"models": models, "mean_patient_auc": [mean(baseline, "patient_auc"), mean(candidate, "patient_auc")],
              "mean_recording_auc": [mean(baseline, "recording_auc"), mean(candidate, "recording_auc")],
              "patient_auc_gain_by_model": gains}
    complete = None not in result["mean_patient_auc"] and None not in gains.values()
    result["patient_auc_gains_enough"] = complete and (
        result["mean_patient_auc"][1] - result["mean_patient_auc"][0] >= STUDY_MIN_GAIN - 1e-9)
    result["no_model_loses_more"] = complete and min(gains.values()) >= -STUDY_MAX_LOSS - 1e-9
    checks = ["patient_auc_gains_enough", "no_model_loses_more"]
    if recording:
        recordings = result["mean_recording_auc"]
        result["recording_auc_not_lower"] = None not in recordings and recordings[1] >= recordings[0]
        checks.append("recording_auc_not_lower")
    result["adopt"] = all(result[check] for check in checks)
    return result


def _not_worse(candidate, baseline, *, tolerance=STUDY_CHILDREN_TOLERANCE):
    """Whether ``candidate``'s mean patient and recording AUCs over the models are within ``tolerance``
    of ``baseline``'s or above (each ``{model: {patient_auc, recording_auc}}``)."""
    for key in ("patient_auc", "recording_auc"):
        values = [[figures[m][key] for m in sorted(baseline)] for figures in (candidate, baseline)]
        if None in values[0] or None in values[1] or np.mean(values[0]) < np.mean(values[1]) - tolerance:
            return False
    return True


def model_study(recordings, *, run, entry):
    """One model's part of :func:`input_noise_study` on validation ``recordings`` (``entry``: the scoring
    entry with the shipped ``population_input_noise``): ``{"adults": {shape: {chosen,
    mean_patient_auc_by_level, at_chosen, by_level}}, "children": {"shipped", "recording"}, "recording_scores":
    {population: {score: figures}}}``. Each recording is decoded once a stage."""
    adults = [r for r in recordings if validation.population_key(r) == "adults"]
    children = [r for r in recordings if validation.population_key(r) != "adults"]
    if not adults:
        raise EvaluationError("the input-noise study needs validation adults; the validation part has none")
    settings = train.input_noise_settings({"model": run}, entry={**entry, "population_input_noise": {}},
                                          shapes=STUDY_SHAPES)
    settings["shipped"] = (run, entry)
    scored = validation.score_settings(adults, settings=settings)
    shipped = scored.pop("shipped")
    shapes = {}
    for shape in STUDY_SHAPES:
        # The level train.choose_input_noise's rule picks, and the figures there, mean over its noise seeds.
        rows = {(level, seed): each for (_, s, level, seed), each in scored.items() if s == shape}
        chosen, table = train.input_noise_choice(rows, shape=shape)
        level = None if chosen["adults"] is None else chosen["adults"]["snr_db"]
        by_level = {lv: mean_figures([figures_by_mode(each) for (other, _), each in rows.items() if other == lv])
                    for lv in dict.fromkeys(lv for lv, _ in rows)}
        shapes[shape] = {"chosen": chosen["adults"], "mean_patient_auc_by_level": table["adults"],
                         "at_chosen": by_level[level],
                         "by_level": {"none" if lv is None else f"{lv:g}": figures for lv, figures in by_level.items()}}
    child_settings = {"shipped": (run, entry)}
    if shapes["recording"]["chosen"] is not None:
        shaped = train.input_noise_setting(shapes["recording"]["chosen"]["snr_db"], shape="recording")
        child_settings["recording"] = (run, {**entry, "population_input_noise": {
            **entry["population_input_noise"], "children": shaped}})
    child_rows = validation.score_settings(children, settings=child_settings)
    scores = {population: {name: figures_by_mode(rescored(members, score)) for name, score in RECORDING_SCORES.items()}
              for population, members in validation.by_population(shipped + child_rows["shipped"]).items()}
    return {"adults": shapes, "children": {name: aucs(rows) for name, rows in child_rows.items()},
            "recording_scores": scores}


def study_decisions(studies):
    """What the pre-registered rule decides from every model's :func:`model_study` ``{model: study}``."""
    models = list(studies)
    adults = judge({m: studies[m]["adults"]["recording"]["at_chosen"] for m in models},
                   {m: studies[m]["adults"]["white"]["at_chosen"] for m in models})
    if all("recording" in studies[m]["children"] for m in models):
        children = judge({m: studies[m]["children"]["recording"] for m in models},
                         {m: studies[m]["children"]["shipped"] for m in models}, recording=False)
    else:
        children = {"adopt": False, "why": "a model's adults got no shaped level, so the children had none to try"}
    candidates = {}
    for name in RECORDING_SCORES:
        if name == "top2":
            continue
        figure = {population: {m: studies[m]["recording_scores"][population] for m in models}
                  for population in studies[models[0]]["recording_scores"]}
        adult = judge({m: f[name] for m, f in figure["adults"].items()}, {m: f["top2"] for m, f in figure["adults"].items()})
        releases = {population: _not_worse({m: f[name] for m, f in by_model.items()},
                                           {m: f["top2"] for m, f in by_model.items()})
                    for population, by_model in figure.items() if population != "adults"}
        candidates[name] = {"adults": adult, "children_not_worse": releases,
                            "adopt": adult["adopt"] and all(releases.values())}
    adopted = [name for name, decision in candidates.items() if decision["adopt"]]
    chosen = max(adopted, key=lambda name: candidates[name]["adults"]["mean_patient_auc"][1], default="top2")
    return {"input_noise_shape": {"adults": adults, "children": children},
            "recording_score": {"candidates": candidates, "chosen": chosen}}


def _model_study_from_file(path, recordings, entry):
    """:func:`model_study` of the ONNX model at ``path`` (a worker process opens its own session)."""
    return model_study(recordings, run=export.onnx_runner(path), entry=entry)


def input_noise_study(recordings, *, models, entry, jobs=1):
    """Issue 24's two questions on validation ``recordings`` for ``models`` ``{name: ONNX path}``, with the
    rule fixed beforehand (``audio_models/README.md``), ``jobs`` models at a time in worker processes.

    1. Adults, per model and shape (:data:`STUDY_SHAPES`): the level ``train.choose_input_noise``'s rule
       picks and the figures there (mean over its noise seeds); :func:`judge` of ``recording`` against
       ``white``. Children: the shipped noise (none) against the adults' chosen ``recording`` level (the
       shipped seed), judged on patient AUC.
    2. Recording scores (:data:`RECORDING_SCORES`) on the rows scored as shipped: adults :func:`judge`
       each against ``top2``; a children's release must not lose more than
       :data:`STUDY_CHILDREN_TOLERANCE` of either mean AUC.
    """
    if jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {name: pool.submit(_model_study_from_file, path, recordings, entry) for name, path in models.items()}
            studies = {name: future.result() for name, future in futures.items()}
    else:
        studies = {name: _model_study_from_file(path, recordings, entry) for name, path in models.items()}
    return {"models": studies, "decision": study_decisions(studies)}


#: Candidates of the BatchNorm-statistics study, besides the shipped (children's) statistics
#: (``audio_models/README.md``, *Adult-domain BatchNorm statistics*).
BN_CANDIDATES = ("pooled", "per_mode", "icbhi")


def batchnorm_layers(model):
    """``model``'s BatchNorm layers in module order (the order a forward pass reaches them here)."""
    return [layer for layer in model.modules() if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm)]


def batchnorm_input_sums(model, batch):
    """Per BatchNorm layer of ``model`` (module order), ``(count, sum, sum of squares)`` of each channel
    of its inputs over one train-mode forward pass of ``batch`` (windows, float32 PCM): every layer
    normalises with this batch's own statistics. ``model`` is left as it was (a copy runs)."""
    training = copy.deepcopy(model).train()
    sums = [None] * len(batchnorm_layers(training))

    def keep(index):
        def hook(_layer, inputs):
            x = inputs[0].detach().double().transpose(0, 1).reshape(inputs[0].shape[1], -1)
            sums[index] = (x.shape[1], x.sum(dim=1).numpy(), (x * x).sum(dim=1).numpy())
        return hook

    hooks = [layer.register_forward_pre_hook(keep(i)) for i, layer in enumerate(batchnorm_layers(training))]
    try:
        with torch.no_grad():
            training(torch.from_numpy(np.asarray(batch, dtype=np.float32)))
    finally:
        for hook in hooks:
            hook.remove()
    return sums


def pooled_statistics(sums):
    """Per layer ``(mean, unbiased variance)`` of every channel over several recordings'
    :func:`batchnorm_input_sums`. Raises :class:`EvaluationError` when ``sums`` is empty.

    Examples
    --------
    >>> a = [(2, np.array([2.0]), np.array([2.0]))]
    >>> b = [(2, np.array([6.0]), np.array([18.0]))]  # the values 1, 1 and 3, 3
    >>> [(m.tolist(), v.round(4).tolist()) for m, v in pooled_statistics([a, b])]
    [([2.0], [1.3333])]
    """
    if not sums:
        raise EvaluationError("no recording left to estimate BatchNorm statistics from")
    stats = []
    for layer in zip(*sums):
        count = sum(n for n, _, _ in layer)
        total = np.sum([s for _, s, _ in layer], axis=0)
        squares = np.sum([q for _, _, q in layer], axis=0)
        mean = total / count
        stats.append((mean, (squares - count * mean * mean) / (count - 1)))
    return stats


def with_statistics(model, stats):
    """A copy of ``model``, in eval mode, whose BatchNorm running means and variances are ``stats``
    (:func:`pooled_statistics`); its weights are ``model``'s."""
    adapted = copy.deepcopy(model)
    for layer, (mean, var) in zip(batchnorm_layers(adapted), stats, strict=True):
        layer.running_mean.copy_(torch.from_numpy(mean))
        layer.running_var.copy_(torch.from_numpy(var))
    return adapted.eval()


def recording_sums(recordings, *, model, entry):
    """``{index: sums}`` of :func:`batchnorm_input_sums` of each recording in ``recordings`` fed as the
    adults are scored (``entry``: the scoring entry; the adults' input noise and copies,
    :func:`audio_models.scoring.network_windows`); a recording the scorer never feeds the network
    (:func:`audio_models.scoring.feeds_network`) gives none."""
    adult_entry = validation.population_entry(entry, "adults")
    sums = {}
    for index, recording in enumerate(recordings):
        rules, samples = scoring.prepared_samples(*read_audio(recording.path))
        if not scoring.feeds_network(rules, samples):
            continue
        batch, _ = scoring.network_windows(samples, adult_entry)
        sums[index] = batchnorm_input_sums(model, batch)
    return sums


def bn_model_study(adults, icbhi, *, model, entry):
    """One model's part of :func:`bn_adaptation_study`: ``({candidate: figures_by_mode}, statistics_from)``
    with ``shipped`` and every :data:`BN_CANDIDATES`; ``statistics_from`` is ``{candidate: {recording
    file name: file names of the recordings whose audio set the statistics it was scored with}}``."""
    patients = [splits.patient_key(r.dataset_family, r.patient_id) for r in adults]
    own = recording_sums(adults, model=model, entry=entry)
    icbhi_sums = recording_sums(icbhi, model=model, entry=entry)
    icbhi_model = with_statistics(model, pooled_statistics(list(icbhi_sums.values())))
    icbhi_names = [icbhi[i].path.name for i in icbhi_sums]
    adapted = {}

    def adapted_for(patient, device):
        """The model with statistics from the other patients' recordings (``device``: only that mode's)."""
        key = (patient, device)
        if key not in adapted:
            fed = [i for i in own if patients[i] != patient and (device is None or adults[i].device == device)]
            adapted[key] = (with_statistics(model, pooled_statistics([own[i] for i in fed])),
                            [adults[i].path.name for i in fed])
        return adapted[key]

    rows = {name: [] for name in ("shipped", *BN_CANDIDATES)}
    statistics_from = {name: {} for name in BN_CANDIDATES}
    shipped_run = train.torch_runner(model)
    for recording, patient in zip(adults, patients):
        pooled, pooled_from = adapted_for(patient, None)
        per_mode, per_mode_from = adapted_for(patient, recording.device)
        settings = {"shipped": (shipped_run, entry), "pooled": (train.torch_runner(pooled), entry),
                    "per_mode": (train.torch_runner(per_mode), entry), "icbhi": (train.torch_runner(icbhi_model), entry)}
        for name, scored in validation.score_settings([recording], settings=settings).items():
            rows[name].extend(scored)
        statistics_from["pooled"][recording.path.name] = pooled_from
        statistics_from["per_mode"][recording.path.name] = per_mode_from
        statistics_from["icbhi"][recording.path.name] = icbhi_names
    return {name: figures_by_mode(each) for name, each in rows.items()}, statistics_from


def bn_adaptation_study(recordings, icbhi, *, models, entry):
    """Issue 24's study of adult-domain BatchNorm statistics on the validation adults of ``recordings``
    for ``models`` ``{name: CrackleNet}``, ``icbhi``: the ICBHI adult recordings; the rule was fixed
    beforehand (``audio_models/README.md``). ``{"models": {model: {candidate: figures}}, "statistics":
    {model: {candidate: {min, max} recordings a set}}, "decision": {candidates, chosen}}``: each
    candidate judged (:func:`judge`) against the shipped statistics over the models."""
    adults = [r for r in recordings if validation.population_key(r) == "adults"]
    if not adults:
        raise EvaluationError("the BatchNorm study needs validation adults; the validation part has none")
    figures, sizes = {}, {}
    for name, model in models.items():
        figures[name], fed = bn_model_study(adults, icbhi, model=model, entry=entry)
        sizes[name] = {candidate: {"min": min(map(len, by.values())), "max": max(map(len, by.values()))}
                       for candidate, by in fed.items()}
        logger.info("%s: %s", name, {c: (f["patient_auc"], f["recording_auc"]) for c, f in figures[name].items()})
    candidates = {candidate: judge({m: figures[m][candidate] for m in models}, {m: figures[m]["shipped"] for m in models})
                  for candidate in BN_CANDIDATES}
    adopted = [c for c, decision in candidates.items() if decision["adopt"]]
    chosen = max(adopted, key=lambda c: candidates[c]["mean_patient_auc"][1], default="shipped")
    return {"models": figures, "recordings_in_statistics": sizes,
            "decision": {"candidates": candidates, "chosen": chosen}}


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
    parser.add_argument("--seeds", type=int, nargs="*", default=[],
                        help="training seeds of the recipe to compare (none: the shipped model alone)")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="folder for seed<N>.pt and seed_spread.json")
    train.add_data_arguments(parser)
    parser.add_argument("--shipped", type=pathlib.Path, default=BUNDLED,
                        help="model folder whose auscultation.pt and manifest.json are the reference (default: bundled)")
    parser.add_argument("--steps", type=int, default=train.STEPS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse-weights", action="store_true", help="score seed<N>.pt already in --out instead of training")
    parser.add_argument("--ensemble", action="store_true",
                        help="also score the average of every model's outputs (it costs their number times one model's time)")
    parser.add_argument("--jobs", type=int, default=1, help="--input-noise-study: models scored at a time, one process each")
    parser.add_argument("--input-noise-study", action="store_true",
                        help="instead: issue 24's study of shaped input noise and the recording score (input_noise_study.json)")
    parser.add_argument("--bn-adaptation-study", action="store_true",
                        help="instead: issue 24's study of adult-domain BatchNorm statistics (bn_adaptation_study.json)")
    parser.add_argument("--icbhi", type=pathlib.Path, nargs="*", default=None,
                        help="--bn-adaptation-study: ICBHI folders (default: icbhi_sample and icbhi_extra under the "
                             "first --data)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    parts, _ = train.parsed_split(parser, args, seed=SPLIT_SEED)
    args.out.mkdir(parents=True, exist_ok=True)

    entry = json.loads((args.shipped / "manifest.json").read_text())["models"][export.MODEL_NAME]
    scoring_entry = {**export.entry_template(), "population_input_noise": entry.get("population_input_noise") or {}}
    models = {"shipped": lambda: load_weights(args.shipped / "auscultation.pt")}
    for seed in args.seeds:
        models[f"seed{seed}"] = lambda seed=seed: seed_model(parts, seed=seed, steps=args.steps, out=args.out,
                                                             reuse=args.reuse_weights)
    if args.bn_adaptation_study:
        folders = (args.icbhi if args.icbhi is not None else
                   [train.data_folders(args)[0] / name for name in ICBHI_FOLDERS])
        icbhi = [r for folder in folders for r in load_icbhi(folder)]
        report = {"part": "validation", "split_seed": SPLIT_SEED, "runtime": "pytorch",
                  "shipped": {"version": entry.get("version"), "input_noise": scoring_entry["population_input_noise"]},
                  "rule": {"min_gain": STUDY_MIN_GAIN, "max_loss": STUDY_MAX_LOSS},
                  "icbhi_recordings": len(icbhi),
                  **bn_adaptation_study(parts["validation"], icbhi, models={name: build() for name, build in models.items()},
                                        entry=scoring_entry)}
        text = json.dumps(report, indent=2)
        (args.out / "bn_adaptation_study.json").write_text(text + "\n")
        print(text)
        return
    if args.input_noise_study:
        paths = {name: export.export_fp32(build(), args.out / f"{name}_fp32.onnx") for name, build in models.items()}
        report = {"part": "validation", "split_seed": SPLIT_SEED, "runtime": "onnxruntime fp32",
                  "shipped": {"version": entry.get("version"), "input_noise": scoring_entry["population_input_noise"]},
                  "rule": {"min_gain": STUDY_MIN_GAIN, "max_loss": STUDY_MAX_LOSS,
                           "children_tolerance": STUDY_CHILDREN_TOLERANCE},
                  **input_noise_study(parts["validation"], models=paths, entry=scoring_entry, jobs=args.jobs)}
        text = json.dumps(report, indent=2)
        (args.out / "input_noise_study.json").write_text(text + "\n")
        print(text)
        return
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
