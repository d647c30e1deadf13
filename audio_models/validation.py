"""Validating the crackle model on real recordings: one routine for training's final report
and ``ildscreen audio evaluate``, so every metric in the manifest is recomputed by that command.

Recordings are scored through :func:`audio_models.scoring.score_samples`, the service's own
path (decode, quality gate, resample, windows, model, top-2 aggregation, calibration). Metrics
come from :mod:`evaluation` (DeLong AUC, Wilson intervals, ECE, reliability curve, subgroup
tables). No torch: the model is any ``run`` callable (ONNX Runtime, or PyTorch in training).

What is measured, on SPRSound patients of one split (:func:`audio_models.datasets.sprsound.patient_split`):

* recording level: positive = at least one expert-annotated fine-crackle event; recordings the
  experts marked "Poor Quality" carry no event labels and are left out (they test the quality
  gate instead); AUC with a DeLong 95 % CI, sensitivity and specificity at the shipped
  threshold with Wilson CIs, ECE and Brier of the calibrated probability, reliability curve;
* event level: an annotated fine-crackle event is detected when a frame inside it reaches the
  frame threshold; a detected segment (consecutive frames at or above it) that overlaps no
  annotated crackle of any kind is a false alarm, counted per minute of audio;
* per chest location and age band (subgroup tables);
* quality gate (rules + learned head) against the experts' "Poor Quality" label;
* the adult ICBHI cross-device check: each recording called negative or positive, by device.
"""

import numpy as np

from audio_models import scoring
from audio_models.io import read_audio
from evaluation.calibration import brier_score, calibration_curve, expected_calibration_error
from evaluation.errors import EvaluationError
from evaluation.metrics import operating_point, roc_auc, wilson_interval
from evaluation.subgroups import subgroup_table

#: Frame probability at which the crackle map shades a frame (edge UI) and an event counts as found.
FRAME_THRESHOLD = 0.5
CRACKLE_EVENTS = ("Fine Crackle", "Coarse Crackle", "Wheeze+Crackle")
#: Paediatric age bands (SPRSound: 0.2-16 years); the adult bands of evaluation.subgroups do not fit.
AGE_BANDS = ((0, 1, "<1"), (1, 6, "1-5"), (6, 12, "6-11"), (12, 200, "12+"))


def age_band(age_y):
    """Paediatric age band of an age in years.

    Examples
    --------
    >>> age_band(0.4), age_band(7.0), age_band(15.3)
    ('<1', '6-11', '12+')
    """
    return next(name for low, high, name in AGE_BANDS if low <= age_y < high)


def score_recordings(recordings, *, run, entry):
    """Score SPRSound recordings as the service would; one row per recording."""
    return score_variants(recordings, runs={"model": run}, entry=entry)["model"]


def score_variants(recordings, *, runs, entry):
    """``{variant: rows}``: each recording decoded once and scored by every ``runs`` variant."""
    rows = {name: [] for name in runs}
    for recording in recordings:
        raw, rate = read_audio(recording.path)
        labels = {"name": recording.name, "patient_id": recording.patient_id, "age_y": recording.age_y,
                  "sex": recording.sex, "location": recording.chest_site, "label": int(recording.has_fine_crackles),
                  "poor_quality": recording.poor_quality, "events": recording.events}
        for name, run in runs.items():
            rows[name].append({**labels, **scoring.score_samples(raw, rate, run=run, entry=entry)})
    return rows


def _rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def _proportion(point):
    return {"value": _rounded(point["value"]), "ci95": [_rounded(v) for v in point["ci95"]] if point["ci95"] else None,
            "n": point["n"]}


def recording_metrics(rows, *, threshold):
    """Recording-level discrimination and calibration on rows with expert crackle labels."""
    rated = [row for row in rows if not row["poor_quality"] and row["crackle_probability"] is not None]
    if not rated:
        raise EvaluationError("no recording with expert crackle labels to evaluate (all are Poor Quality or silent)")
    labels = np.array([row["label"] for row in rated])
    probs = np.array([row["crackle_probability"] for row in rated])
    auc = roc_auc(labels, probs)
    point = operating_point(labels, probs, threshold)
    return {
        "patients": len({row["patient_id"] for row in rated}), "recordings": len(rated),
        "n_positive": int(labels.sum()), "n_negative": int(len(labels) - labels.sum()),
        "positive_patients": len({row["patient_id"] for row in rated if row["label"]}),
        "auc": _rounded(auc.auc), "auc_ci95": [_rounded(auc.ci_low), _rounded(auc.ci_high)], "threshold": threshold,
        "sensitivity": _proportion(point["sensitivity"]), "specificity": _proportion(point["specificity"]),
        "counts": point["counts"], "ece": _rounded(expected_calibration_error(labels, probs)),
        "brier": _rounded(brier_score(labels, probs)),
        "reliability": [{**b, "mean_predicted": _rounded(b["mean_predicted"]), "observed": _rounded(b["observed"])}
                        for b in calibration_curve(labels, probs)],
    }


def _segments(active):
    """``[(first, last)]`` frame index runs where ``active`` is True."""
    edges = np.flatnonzero(np.diff(np.r_[0, active.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2] - 1))


def event_metrics(rows, *, frame_s, frame_threshold=FRAME_THRESHOLD):
    """Event-level detection of fine crackles from the stitched frame map."""
    found = total = false_alarms = 0
    minutes = 0.0
    for row in rows:
        if row["poor_quality"] or row["frame_map"] is None:
            continue
        frames = np.asarray(row["frame_map"], dtype=float)
        minutes += len(frames) * frame_s / 60.0
        for event in row["events"]:
            if event.type != "Fine Crackle":
                continue
            first, last = int(event.start_s // frame_s), int(np.ceil(event.end_s / frame_s))
            total += 1
            found += bool(frames[first:last].size and frames[first:last].max() >= frame_threshold)
        crackles = [(e.start_s, e.end_s) for e in row["events"] if e.type in CRACKLE_EVENTS]
        for first, last in _segments(frames >= frame_threshold):
            start, end = first * frame_s, (last + 1) * frame_s
            false_alarms += not any(start < e_end and s < end for s, e_end in crackles)
    low, high = wilson_interval(found, total) if total else (None, None)
    return {"frame_threshold": frame_threshold, "fine_crackle_events": total, "detected": found,
            "sensitivity": _rounded(found / total) if total else None, "sensitivity_ci95": [_rounded(low), _rounded(high)],
            "false_alarms": false_alarms, "false_alarms_per_minute": _rounded(false_alarms / minutes) if minutes else None,
            "minutes": round(minutes, 2)}


def subgroup_metrics(rows):
    """Recording-level AUC and calibration per chest location and per age band."""
    rated = [row for row in rows if not row["poor_quality"] and row["crackle_probability"] is not None]
    labels = [row["label"] for row in rated]
    probs = [row["crackle_probability"] for row in rated]
    return {"location": subgroup_table(labels, probs, [row["location"] for row in rated]),
            "age_band": subgroup_table(labels, probs, [age_band(row["age_y"]) for row in rated])}


def quality_metrics(rows):
    """The quality gate (rules + learned head) against the experts' "Poor Quality" label."""
    poor = [row for row in rows if row["poor_quality"]]
    good = [row for row in rows if not row["poor_quality"]]
    caught = sum(not row["quality"].ok for row in poor)
    refused = sum(not row["quality"].ok for row in good)
    by_rule = {}
    for row in rows:
        for issue in row["quality"].issues:
            code = issue.split(":", 1)[0]
            key = "poor" if row["poor_quality"] else "good"
            by_rule.setdefault(code, {"poor": 0, "good": 0})[key] += 1
    result = {"poor_quality_records": len(poor), "caught": caught, "good_records": len(good), "refused_good": refused,
              "issues_by_code": by_rule}
    if poor:
        result["catch_rate"] = _rounded(caught / len(poor))
        result["catch_rate_ci95"] = [_rounded(v) for v in wilson_interval(caught, len(poor))]
    if good:
        result["false_refusal_rate"] = _rounded(refused / len(good))
        result["false_refusal_rate_ci95"] = [_rounded(v) for v in wilson_interval(refused, len(good))]
    return result


def icbhi_check(recordings, *, run, entry):
    """Adult cross-device check on ICBHI recordings: is each called negative or positive?

    A recording counts as having crackles when any of its annotated cycles has them.
    """
    files = []
    for recording in recordings:
        raw, rate = read_audio(recording.path)
        scored = scoring.score_samples(raw, rate, run=run, entry=entry)
        files.append({"file": recording.path.stem, "device": recording.device,
                      "annotated_crackles": any(cycle.crackles for cycle in recording.cycles),
                      "crackle_probability": _rounded(scored["crackle_probability"]),
                      "called_positive": bool(scored["crackle_detected"]), "quality_ok": scored["quality"].ok})
    negatives = [f for f in files if not f["annotated_crackles"]]
    positives = [f for f in files if f["annotated_crackles"]]
    return {"recordings": len(files), "crackle_free": len(negatives),
            "crackle_free_called_negative": sum(not f["called_positive"] for f in negatives),
            "with_crackles": len(positives), "with_crackles_called_positive": sum(f["called_positive"] for f in positives),
            "files": files}


def evaluate_split(rows, *, entry):
    """Every SPRSound metric of one split's scored rows, at the manifest's threshold."""
    return {"recording": recording_metrics(rows, threshold=entry["threshold"]),
            "events": event_metrics(rows, frame_s=entry["frame_s"]),
            "subgroups": subgroup_metrics(rows), "quality_gate": quality_metrics(rows)}


#: How far a re-run of ``ildscreen audio evaluate`` may differ from the manifest's numbers: the
#: same ONNX files on another CPU or ONNX Runtime version round floats differently.
REPRODUCTION_TOLERANCE = 0.005


def select_part(recordings, *, split_spec, part):
    """The recordings of one split part, or all of them for ``part="all"`` (a folder of patients
    the model never saw, e.g. another release)."""
    from audio_models.datasets.sprsound import patient_split

    if part == "all":
        return list(recordings)
    split = patient_split(recordings, seed=split_spec["seed"], fractions=tuple(split_spec["fractions"]))
    return [r for r in recordings if split[r.patient_id] == part]


def evaluate_model(recordings, *, runs, entry, icbhi=()):
    """Every metric of the model on ``recordings``: ``(report, fp32_rows)``.

    ``runs`` maps variant names (``fp32`` first) to ``run`` callables; the first variant gives
    the full report, the others their recording-level metrics beside it.
    """
    names = list(runs)
    scored = score_variants(recordings, runs=runs, entry=entry)
    rows = scored[names[0]]
    report = {"variant": names[0], **evaluate_split(rows, entry=entry)}
    for name in names[1:]:
        other = recording_metrics(scored[name], threshold=entry["threshold"])
        report[f"recording_{name}"] = other
        report[f"auc_difference_{name}_vs_{names[0]}"] = round(other["auc"] - report["recording"]["auc"], 4)
    if icbhi:
        report["icbhi_adults"] = icbhi_check(icbhi, run=runs[names[0]], entry=entry)
    return report, rows


def manifest_check(report, shipped, *, tolerance=REPRODUCTION_TOLERANCE):
    """Each headline number of the manifest's test report (``shipped``) beside the one measured."""
    def pick(source, *path):
        for key in path:
            source = source.get(key) if isinstance(source, dict) else None
        return source

    paths = {"auc": ("recording", "auc"), "sensitivity": ("recording", "sensitivity", "value"),
             "specificity": ("recording", "specificity", "value"), "ece": ("recording", "ece"),
             "event_sensitivity": ("events", "sensitivity"), "quality_catch_rate": ("quality_gate", "catch_rate"),
             "quality_false_refusal_rate": ("quality_gate", "false_refusal_rate"),
             "auc_int8": ("recording_int8", "auc"),
             "icbhi_crackle_free_called_negative": ("icbhi_adults", "crackle_free_called_negative")}
    checks = {}
    for name, path in paths.items():
        expected, measured = pick(shipped, *path), pick(report, *path)
        if expected is None and measured is None:
            continue
        checks[name] = {"manifest": expected, "measured": measured,
                        "ok": expected is not None and measured is not None and abs(expected - measured) <= tolerance}
    return {"tolerance": tolerance, "all_ok": all(check["ok"] for check in checks.values()), "metrics": checks}


def write_html_report(report, rows, out_dir):
    """``predictions.csv``, the evaluation toolkit's report (ROC, reliability plot, subgroups by
    chest location and age band) and ``audio_metrics.json`` with everything else."""
    import csv
    import json
    import pathlib

    from evaluation.report import write_report

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rated = [row for row in rows if not row["poor_quality"] and row["crackle_probability"] is not None]
    predictions = out_dir / "predictions.csv"
    with predictions.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recording", "label", "probability", "sex", "age", "location"])
        for row in rated:
            writer.writerow([row["name"], row["label"], row["crackle_probability"], row["sex"], row["age_y"], row["location"]])
    appendix = {"Event-level detection": report["events"], "Quality gate vs expert Poor Quality": report["quality_gate"]}
    if "icbhi_adults" in report:
        icbhi = report["icbhi_adults"]
        appendix["ICBHI adult cross-device check"] = {f["file"]: {"probability": f["crackle_probability"],
                                                                  "called_positive": f["called_positive"],
                                                                  "annotated_crackles": f["annotated_crackles"]}
                                                      for f in icbhi["files"]}
    for key in report:
        if key.startswith("recording_") or key.startswith("auc_difference"):
            appendix.setdefault("Other variants", {})[key] = report[key] if key.startswith("auc") else {
                "auc": report[key]["auc"], "auc_ci95": report[key]["auc_ci95"]}
    write_report(predictions, out_dir, threshold=report["recording"]["threshold"], subgroup_columns=("sex", "age", "location"),
                 band_age=age_band, title="Crackle model on held-out recordings", appendix=appendix)
    (out_dir / "audio_metrics.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return out_dir / "report.html"
