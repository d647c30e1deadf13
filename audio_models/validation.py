"""Validating the crackle model on real recordings, per population and per patient: one routine
for training's final report and ``ildscreen audio evaluate``, so every figure in the manifest is
recomputed by that command.

Recordings are scored through :func:`audio_models.scoring.score_samples`, the service's own path
(decode, quality gate, resample, windows, model, top-2 aggregation, calibration). Metrics come from
:mod:`evaluation` (AUC, cluster-bootstrap intervals, Wilson intervals, ECE, reliability curve,
subgroup tables). No torch: the model is any ``run`` callable (ONNX Runtime, or PyTorch in training).

Populations are reported apart, never pooled into one figure: ``children_<release>`` (SPRSound, each
release) and ``adults`` (KAUH). For each:

* **patient level** (what the screening uses): a chest site's finding is the *maximum* crackle
  probability over its accepted recordings; a patient is positive when any site reaches the
  threshold; the truth is whether any of the patient's expert-labelled recordings has crackles. A
  patient whose every recording the quality gate refused is *not assessable*: counted apart, never
  as a negative. AUC, sensitivity and specificity with patient-bootstrap 95 % intervals;
* **recording level**: accepted recordings with expert crackle labels ("Poor Quality" records are
  left out and test the gate instead); refused recordings are counted apart by label, never as
  correct negatives; intervals by patient-cluster bootstrap (recordings of one patient move
  together); ECE, Brier and the reliability curve of the calibrated probability;
* per device (stethoscope / filter mode), age band and chest location;
* event level (children: the only population with event times);
* the quality gate: expert Poor Quality caught, good recordings refused, crackle recordings refused
  (the gate must not call crackles noise), reasons by code.
"""

import zlib

import numpy as np

from audio_models import scoring
from audio_models.datasets import splits
from audio_models.datasets.generic import ADULT_FROM_AGE_Y, LabelledRecording
from audio_models.io import read_audio
from audio_models.resample import resample
from audio_models.scoring import cohort  # validation.cohort: the one rule of which populations are adults
from evaluation.calibration import brier_score, calibration_curve, expected_calibration_error
from evaluation.errors import EvaluationError
from evaluation.metrics import cluster_bootstrap, operating_point, roc_auc, wilson_interval
from evaluation.subgroups import age_band as adult_age_band
from evaluation.subgroups import subgroup_table

#: Frame probability at which the crackle map shades a frame (edge UI) and an event counts as found.
FRAME_THRESHOLD = 0.5
CRACKLE_EVENTS = ("Fine Crackle", "Coarse Crackle", "Wheeze+Crackle")
#: Paediatric age bands (SPRSound: 0.2-16 years); adults use evaluation.subgroups' ten-year bands.
CHILD_AGE_BANDS = ((0, 1, "<1"), (1, 6, "1-5"), (6, 12, "6-11"), (12, ADULT_FROM_AGE_Y, "12-17"))
#: Patient-cluster bootstrap of every interval: replicates and seed (fixed, so figures reproduce).
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 0
#: How far every interval is widened beyond the percentile bootstrap (evaluation.metrics.cluster_bootstrap):
#: a bootstrap of few patients who all agree collapses to a point.
CI_FLOOR = ("widened to at least an interval on the numbers of patients: Wilson's for sensitivity and "
            "specificity, Newcombe's score interval for the AUC")
PATIENT_RULE = ("a chest site's finding is the maximum crackle probability over its accepted recordings; a patient "
                "is positive when any site reaches the threshold; refused recordings count for nothing, and a patient "
                "with no accepted recording is not assessable (reported apart, never a negative)")
#: How far a re-run of ``ildscreen audio evaluate`` may differ from the manifest's numbers: the
#: same ONNX files on another CPU or ONNX Runtime version round floats differently.
REPRODUCTION_TOLERANCE = 0.005


def age_band(age_y):
    """Age band of an age in years: paediatric bands under 18, ten-year adult bands from 18;
    ``unknown`` without an age (a generic folder may not give one).

    Examples
    --------
    >>> age_band(0.4), age_band(7.0), age_band(15.3), age_band(67), age_band(None)
    ('<1', '6-11', '12-17', '60-69', 'unknown')
    """
    if age_y is None:
        return "unknown"
    for low, high, name in CHILD_AGE_BANDS:
        if low <= age_y < high:
            return name
    return adult_age_band(age_y)


def population_key(recording):
    """``adults`` (KAUH), ``children_<release>`` (SPRSound) or, for a generic folder's recordings (a
    clinic's own labelled takes), ``adults_<folder>`` / ``children_<folder>``: the populations reported apart.
    A folder is a population of its own, never pooled with KAUH's adults, so the manifest's patient-list
    hash of each population names one folder's patients."""
    if isinstance(recording, LabelledRecording):
        return f"{recording.population}_{recording.dataset}"
    return "adults" if recording.population == "adults" else f"children_{recording.dataset}"


def population_entry(entry, population):
    """The manifest entry with a reported population's own operating points (crackle and quality
    thresholds): what its figures are computed with."""
    return scoring.entry_for_population(entry, cohort(population))


def population_threshold(entry, population):
    """The crackle threshold a reported population's figures are computed at."""
    return population_entry(entry, population)["threshold"]


def _rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def _row_labels(recording):
    """What a scored row carries about its recording besides the scores."""
    return {"name": recording.name, "patient": splits.patient_key(recording.dataset_family, recording.patient_id),
            "population": population_key(recording), "device": recording.device, "age_y": recording.age_y,
            "sex": recording.sex, "location": recording.chest_site, "label": int(recording.has_fine_crackles),
            "poor_quality": recording.poor_quality, "events": recording.events, "other_sounds": recording.other_sounds}


def score_variants(recordings, *, runs, entry):
    """``{variant: rows}``: each recording decoded once and scored by every ``runs`` variant."""
    return score_settings(recordings, settings={name: (run, entry) for name, run in runs.items()})


def score_settings(recordings, *, settings):
    """``{name: rows}`` for ``settings`` ``{name: (run, entry)}``: each recording decoded, resampled and
    judged by the quality rules once (:func:`audio_models.scoring.prepared_samples`), then scored by every
    model ``run`` under its manifest ``entry`` (each population's own operating points and input noise)."""
    rows = {name: [] for name in settings}
    for recording in recordings:
        labels, rules, samples = _prepared(recording)
        for name, (run, entry) in settings.items():
            rows[name].append(_scored_row(labels, rules, samples, run=run, entry=entry))
    return rows


def score_settings_in_turn(recordings, *, settings):
    """Yields ``(population, name, rows)``: the rows of :func:`score_settings`, one population and one
    setting at a time, so that a long scoring can say how far it got. Each population's recordings are
    decoded and prepared once and held in memory (one population at a time) while every setting scores
    them; a population's rows keep the recordings' order."""
    by_population = {}
    for recording in recordings:
        by_population.setdefault(population_key(recording), []).append(recording)
    for population, members in sorted(by_population.items()):
        prepared = [_prepared(recording) for recording in members]
        for name, (run, entry) in settings.items():
            yield population, name, [_scored_row(*each, run=run, entry=entry) for each in prepared]


def _prepared(recording):
    """``(labels, rules, samples)``: a recording's row labels, decoded and prepared for scoring
    (:func:`audio_models.scoring.prepared_samples`)."""
    raw, rate = read_audio(recording.path)
    return (_row_labels(recording), *scoring.prepared_samples(raw, rate))


def _scored_row(labels, rules, samples, *, run, entry):
    """One prepared recording's row, scored by ``run`` under its population's own operating points."""
    own = population_entry(entry, labels["population"])
    return {**labels, **scoring.score_prepared(rules, samples, run=run, entry=own)}


def score_recordings(recordings, *, run, entry):
    """Score recordings as the service would; one row per recording."""
    return score_variants(recordings, runs={"model": run}, entry=entry)["model"]


def _labelled(rows):
    """Rows with an expert crackle label (not "Poor Quality") that the model could score."""
    return [row for row in rows if not row["poor_quality"] and row["crackle_probability"] is not None]


def _accepted(rows):
    return [row for row in _labelled(rows) if row["quality"].ok]


def _discrimination(labels, scores, clusters, threshold):
    """AUC, sensitivity and specificity with patient-cluster bootstrap CIs, and the counts."""
    boot = cluster_bootstrap(labels, scores, clusters, threshold=threshold, replicates=BOOTSTRAP_REPLICATES,
                             seed=BOOTSTRAP_SEED)
    figures = {name: {"value": _rounded(boot[name]["value"]),
                      "ci95": [_rounded(v) for v in boot[name]["ci95"]] if boot[name]["ci95"] else None}
               for name in ("auc", "sensitivity", "specificity")}
    return {"auc": figures["auc"]["value"], "auc_ci95": figures["auc"]["ci95"],
            "sensitivity": figures["sensitivity"], "specificity": figures["specificity"],
            "counts": operating_point(labels, scores, threshold)["counts"]}


def recording_metrics(rows, *, threshold):
    """Recording-level discrimination and calibration on accepted recordings with crackle labels."""
    labelled, accepted = _labelled(rows), _accepted(rows)
    if not accepted:
        raise EvaluationError("no accepted recording with expert crackle labels to evaluate")
    labels = np.array([row["label"] for row in accepted])
    probs = np.array([row["crackle_probability"] for row in accepted])
    refused = [row for row in labelled if not row["quality"].ok]
    result = {"patients": len({row["patient"] for row in accepted}), "recordings": len(accepted),
              "n_positive": int(labels.sum()), "n_negative": int(len(labels) - labels.sum()),
              "positive_patients": len({row["patient"] for row in accepted if row["label"]}),
              "refused": {"recordings": len(refused), "with_crackles": sum(row["label"] for row in refused),
                          "without_crackles": sum(1 - row["label"] for row in refused)},
              "threshold": threshold, "ci_method": "patient_cluster_bootstrap"}
    if labels.min() == labels.max():
        result["note"] = "one class only: no AUC, sensitivity or specificity"
        return result
    result.update(_discrimination(labels, probs, [row["patient"] for row in accepted], threshold))
    result.update({
        "ece": _rounded(expected_calibration_error(labels, probs)), "brier": _rounded(brier_score(labels, probs)),
        "reliability": [{**b, "mean_predicted": _rounded(b["mean_predicted"]), "observed": _rounded(b["observed"])}
                        for b in calibration_curve(labels, probs)],
    })
    return result


def patient_scores(rows):
    """``{patient: {"label", "score", "sites", "assessable"}}`` by the screening's patient rule.

    ``score`` is the maximum over chest sites of each site's maximum accepted probability (a
    second, clear take at a site cannot pull its finding down), None when nothing was accepted.
    """
    patients = {}
    for row in _labelled(rows):
        patient = patients.setdefault(row["patient"], {"label": 0, "sites": {}})
        patient["label"] = max(patient["label"], row["label"])
        if row["quality"].ok:
            site = patient["sites"]
            site[row["location"]] = max(site.get(row["location"], 0.0), row["crackle_probability"])
    for patient in patients.values():
        patient["assessable"] = bool(patient["sites"])
        patient["score"] = max(patient["sites"].values()) if patient["sites"] else None
    return patients


def patient_auc(rows):
    """Patient-level AUC of :func:`patient_scores` over the assessable patients; None without both
    classes."""
    patients = [p for p in patient_scores(rows).values() if p["assessable"]]
    if len({p["label"] for p in patients}) < 2:
        return None
    return roc_auc(np.array([p["label"] for p in patients]), np.array([p["score"] for p in patients])).auc


def recording_auc(rows):
    """Recording-level AUC over the accepted recordings with crackle labels (no bootstrap: the point
    figure of :func:`recording_metrics`, rounded alike); None without both classes."""
    accepted = _accepted(rows)
    labels = np.array([row["label"] for row in accepted])
    if len(set(labels.tolist())) < 2:
        return None
    return _rounded(roc_auc(labels, np.array([row["crackle_probability"] for row in accepted])).auc)


def patient_metrics(rows, *, threshold):
    """Patient-level figures of :func:`patient_scores` with patient-bootstrap 95 % intervals."""
    patients = patient_scores(rows)
    assessable = {key: p for key, p in patients.items() if p["assessable"]}
    unassessable = [p for p in patients.values() if not p["assessable"]]
    labels = np.array([p["label"] for p in assessable.values()], dtype=int)
    scores = np.array([p["score"] for p in assessable.values()], dtype=float)
    labelled = _labelled(rows)
    result = {"unit": "patient", "ci_method": "patient_cluster_bootstrap", "rule": PATIENT_RULE,
              "patients": len(patients), "assessable_patients": len(assessable),
              "positive_patients": int(labels.sum()) if len(labels) else 0,
              "not_assessable": {"patients": len(unassessable), "with_crackles": sum(p["label"] for p in unassessable)},
              "recordings": len(labelled), "refused_recordings": sum(not row["quality"].ok for row in labelled),
              "threshold": threshold}
    if len(labels) == 0 or labels.min() == labels.max():
        result["note"] = "one class only among assessable patients: no AUC, sensitivity or specificity"
        return result
    result.update(_discrimination(labels, scores, list(assessable), threshold))
    return result


def _segments(active):
    """``[(first, last)]`` frame index runs where ``active`` is True."""
    edges = np.flatnonzero(np.diff(np.r_[0, active.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2] - 1))


def event_metrics(rows, *, frame_s, frame_threshold=FRAME_THRESHOLD):
    """Event-level detection of fine crackles from the stitched frame map; None without event times."""
    found = total = false_alarms = 0
    minutes = 0.0
    for row in rows:
        if row["poor_quality"] or row["frame_map"] is None or not row["events"]:
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
    if not minutes:
        return None
    low, high = wilson_interval(found, total) if total else (None, None)
    return {"frame_threshold": frame_threshold, "fine_crackle_events": total, "detected": found,
            "sensitivity": _rounded(found / total) if total else None, "sensitivity_ci95": [_rounded(low), _rounded(high)],
            "false_alarms": false_alarms, "false_alarms_per_minute": _rounded(false_alarms / minutes),
            "minutes": round(minutes, 2)}


def subgroup_metrics(rows, *, threshold):
    """Per device, age band and chest location: recording-level tables and patient-level figures."""
    accepted = _accepted(rows)
    labels = [row["label"] for row in accepted]
    probs = [row["crackle_probability"] for row in accepted]
    tables = {}
    if len(set(labels)) == 2:
        tables = {column: subgroup_table(labels, probs, [key(row) for row in accepted])
                  for column, key in (("device", lambda r: r["device"]), ("age_band", lambda r: age_band(r["age_y"])),
                                      ("location", lambda r: r["location"]))}
    by_device = {}
    for device in sorted({row["device"] for row in rows}):
        members = [row for row in rows if row["device"] == device]
        by_device[device] = patient_metrics(members, threshold=threshold)
    return {"recording": tables, "patient_by_device": by_device,
            "against_crackle_free": against_crackle_free(rows, threshold=threshold)}


def against_crackle_free(rows, *, threshold):
    """Every accepted crackle recording against each kind of accepted crackle-free recording
    (``other_sounds``: ``none``, ``wheeze``, ...): the AUC and the specificity of that kind, with
    patient-cluster bootstrap intervals.

    A pooled AUC can rest on one kind of negative. For the KAUH adults most crackle-free recordings
    are wheezes; a detector that scores wheezes low but normal chests as high as crackles looks good
    pooled and is no use to patients without wheeze, as most people screened for ILD are. ``{}``
    without both classes.
    """
    accepted = _accepted(rows)
    positives = [row for row in accepted if row["label"]]
    if not positives:
        return {}
    out = {}
    for kind in sorted({row["other_sounds"] for row in accepted if not row["label"]}):
        negatives = [row for row in accepted if not row["label"] and row["other_sounds"] == kind]
        members = positives + negatives
        figures = _discrimination(np.array([row["label"] for row in members]),
                                  np.array([row["crackle_probability"] for row in members]),
                                  [row["patient"] for row in members], threshold)
        out[kind] = {"crackle_free_recordings": len(negatives),
                     "crackle_free_patients": len({row["patient"] for row in negatives}),
                     "crackle_recordings": len(positives), "auc": figures["auc"], "auc_ci95": figures["auc_ci95"],
                     "specificity": figures["specificity"], "ci_method": "patient_cluster_bootstrap"}
    return out


def _shaped(x, rate, gain):
    """``x`` through a zero-phase filter of magnitude ``gain(frequency_hz)``."""
    spectrum = np.fft.rfft(np.asarray(x, dtype=np.float64))
    return np.fft.irfft(spectrum * gain(np.fft.rfftfreq(len(x), 1.0 / rate)), n=len(x))


def _with_white_noise(x, name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # the same noise on every run
    level = np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)) * 10 ** (-20 / 20)
    return x + level * rng.standard_normal(len(x))


#: Fixed changes of a recording a clinic's stethoscope or room could make, each ``(samples, rate,
#: name) -> (samples, rate)``: what the robustness asked of the detector (issue 24: frequency
#: response, bell / diaphragm filtering, source rates, gain, noise), measured on held-out patients.
STRESS_CONDITIONS = {
    "20 dB quieter": lambda x, rate, name: (0.1 * np.asarray(x), rate),
    "sampled at 44.1 kHz": lambda x, rate, name: (resample(x, orig_sr=rate, target_sr=44100), 44100),
    "bell-like: above 400 Hz falling 12 dB/octave": lambda x, rate, name: (
        _shaped(x, rate, lambda f: 1.0 / (1.0 + (f / 400.0) ** 2)), rate),
    "diaphragm-like: below 200 Hz falling 12 dB/octave": lambda x, rate, name: (
        _shaped(x, rate, lambda f: (f / 200.0) ** 2 / (1.0 + (f / 200.0) ** 2)), rate),
    "white noise 20 dB below the sound": lambda x, rate, name: (_with_white_noise(x, name), rate),
}


def stress_test(recordings, *, run, entry, conditions=None):
    """Per population and condition (:data:`STRESS_CONDITIONS`): recording- and patient-level AUC
    of the recordings changed that way, beside the same recordings as recorded, and the share the
    quality gate still accepts. Each recording is decoded once; each population is scored at its
    own operating point (AUCs do not depend on it)."""
    conditions = STRESS_CONDITIONS if conditions is None else conditions
    rows = {name: [] for name in ("as recorded", *conditions)}
    for recording in recordings:
        raw, rate = read_audio(recording.path)
        labels = _row_labels(recording)
        own = population_entry(entry, labels["population"])
        rows["as recorded"].append({**labels, **scoring.score_samples(raw, rate, run=run, entry=own)})
        for name, change in conditions.items():
            changed, changed_rate = change(raw, rate, recording.name)
            rows[name].append({**labels, **scoring.score_samples(np.asarray(changed, dtype=np.float32), changed_rate,
                                                                 run=run, entry=own)})
    out = {}
    for name, members in rows.items():
        for pop, group in by_population(members).items():
            rated, accepted = [row for row in group if not row["poor_quality"]], _accepted(group)
            figures = {"recordings": len(rated), "accepted": len(accepted),
                       "accepted_share": _rounded(len(accepted) / len(rated)) if rated else None,
                       "recording_auc": None, "patient_auc": None}
            if len({row["label"] for row in accepted}) == 2:
                labels = np.array([row["label"] for row in accepted])
                figures["recording_auc"] = _rounded(roc_auc(labels, np.array([row["crackle_probability"] for row in accepted])).auc)
                figures["patient_auc"] = _rounded(patient_auc(group))
            out.setdefault(pop, {})[name] = figures
    for table in out.values():
        reference = table["as recorded"]
        for figures in table.values():
            for level in ("recording_auc", "patient_auc"):
                figures[f"{level}_difference"] = (None if figures[level] is None or reference[level] is None
                                                  else _rounded(figures[level] - reference[level]))
    return out


def quality_metrics(rows):
    """The quality gate (rules + learned head) against the experts' labels."""
    poor = [row for row in rows if row["poor_quality"]]
    good = [row for row in rows if not row["poor_quality"]]
    crackly = [row for row in good if row["label"]]
    caught = sum(not row["quality"].ok for row in poor)
    refused = sum(not row["quality"].ok for row in good)
    by_rule = {}
    for row in rows:
        for issue in row["quality"].issues:
            code = issue.split(":", 1)[0]
            key = "poor" if row["poor_quality"] else "good"
            by_rule.setdefault(code, {"poor": 0, "good": 0})[key] += 1
    result = {"poor_quality_records": len(poor), "caught": caught, "good_records": len(good), "refused_good": refused,
              "crackle_records": len(crackly), "refused_crackle": sum(not row["quality"].ok for row in crackly),
              "issues_by_code": by_rule}
    if poor:
        result["catch_rate"] = _rounded(caught / len(poor))
        result["catch_rate_ci95"] = [_rounded(v) for v in wilson_interval(caught, len(poor))]
    if good:
        result["false_refusal_rate"] = _rounded(refused / len(good))
        result["false_refusal_rate_ci95"] = [_rounded(v) for v in wilson_interval(refused, len(good))]
    if crackly:
        result["crackle_refusal_rate"] = _rounded(result["refused_crackle"] / len(crackly))
    return result


def icbhi_check(recordings, *, run, entry):
    """Adult cross-device check on ICBHI recordings: is each called negative or positive?

    A recording counts as having crackles when any of its annotated cycles has them. A recording the
    quality gate refused is reported as refused: neither a correct negative nor a miss.
    """
    files = []
    entry = scoring.entry_for_population(entry, "adults")
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
            "crackle_free_refused": sum(not f["quality_ok"] for f in negatives),
            "crackle_free_called_negative": sum(f["quality_ok"] and not f["called_positive"] for f in negatives),
            "with_crackles": len(positives), "with_crackles_refused": sum(not f["quality_ok"] for f in positives),
            "with_crackles_called_positive": sum(f["quality_ok"] and f["called_positive"] for f in positives),
            "files": files}


def evaluate_population(rows, *, entry, threshold):
    """Every figure of one population's scored rows, at ``threshold`` (its operating point)."""
    report = {"threshold": threshold, "patient": patient_metrics(rows, threshold=threshold),
              "recording": recording_metrics(rows, threshold=threshold),
              "subgroups": subgroup_metrics(rows, threshold=threshold), "quality_gate": quality_metrics(rows)}
    events = event_metrics(rows, frame_s=entry["frame_s"])
    if events is not None:
        report["events"] = events
    return report


def by_population(rows):
    """``{population: rows}``, in a stable order."""
    groups = {}
    for row in rows:
        groups.setdefault(row["population"], []).append(row)
    return dict(sorted(groups.items()))


def by_cohort(rows):
    """``{cohort: rows}`` (:func:`cohort`: adults, children), in a stable order."""
    groups = {}
    for row in rows:
        groups.setdefault(cohort(row["population"]), []).append(row)
    return dict(sorted(groups.items()))


def evaluate_model(recordings, *, runs, entry, icbhi=()):
    """Every figure of the model on ``recordings``, per population: ``(report, fp32_rows)``.

    ``runs`` maps variant names (``fp32`` first) to ``run`` callables; the first variant gives the
    full report, the others their recording- and patient-level AUCs beside it.
    """
    names = list(runs)
    scored = score_variants(recordings, runs=runs, entry=entry)
    rows = scored[names[0]]
    report = {"variant": names[0], "threshold": entry["threshold"],
              "populations": {pop: evaluate_population(members, entry=entry, threshold=population_threshold(entry, pop))
                              for pop, members in by_population(rows).items()}}
    for name in names[1:]:
        report[name] = {}
        for pop, members in by_population(scored[name]).items():
            recording = recording_metrics(members, threshold=population_threshold(entry, pop))
            patient = patient_metrics(members, threshold=population_threshold(entry, pop))
            reference = report["populations"][pop]
            report[name][pop] = {
                "recording_auc": recording.get("auc"), "patient_auc": patient.get("auc"),
                "recording_auc_difference": (None if recording.get("auc") is None
                                             else round(recording["auc"] - reference["recording"]["auc"], 4))}
    if icbhi:
        report["icbhi_adults"] = icbhi_check(icbhi, run=runs[names[0]], entry=entry)
    return report, rows


def headline(report):
    """``{name: number}``: every figure the manifest states, flattened (for :func:`manifest_check`)."""
    figures = {}
    for pop, section in (report.get("populations") or {}).items():
        for level in ("patient", "recording"):
            block = section.get(level) or {}
            figures[f"{pop}.{level}.auc"] = block.get("auc")
            for name in ("sensitivity", "specificity"):
                figures[f"{pop}.{level}.{name}"] = (block.get(name) or {}).get("value")
        gate = section.get("quality_gate") or {}
        figures[f"{pop}.quality.false_refusal_rate"] = gate.get("false_refusal_rate")
        figures[f"{pop}.quality.catch_rate"] = gate.get("catch_rate")
        figures[f"{pop}.events.sensitivity"] = (section.get("events") or {}).get("sensitivity")
        kinds = (section.get("subgroups") or {}).get("against_crackle_free") or {}
        for kind, block in kinds.items():
            figures[f"{pop}.against_crackle_free.{kind}.auc"] = block.get("auc")
        for device, block in ((section.get("subgroups") or {}).get("patient_by_device") or {}).items():
            figures[f"{pop}.patient_by_device.{device}.auc"] = block.get("auc")
            for name in ("sensitivity", "specificity"):
                figures[f"{pop}.patient_by_device.{device}.{name}"] = (block.get(name) or {}).get("value")
    for pop, block in (report.get("int8") or {}).items():
        figures[f"{pop}.int8.recording_auc"] = block.get("recording_auc")
    icbhi = report.get("icbhi_adults")
    if icbhi:
        figures["icbhi.crackle_free_called_negative"] = icbhi["crackle_free_called_negative"]
        figures["icbhi.crackle_free_refused"] = icbhi["crackle_free_refused"]
    return {name: value for name, value in figures.items() if value is not None}


def manifest_check(report, shipped, *, tolerance=REPRODUCTION_TOLERANCE):
    """Each headline figure of the manifest's test report (``shipped``) beside the one measured.

    Only the populations measured are compared (``--population adults`` checks the adult figures);
    a figure the manifest states for a measured population but the run lacks is a failure.
    """
    measured = headline(report)
    expected = headline(shipped)
    measured_populations = set(report.get("populations") or {})
    checks = {}
    for name, value in expected.items():
        population = name.split(".", 1)[0]
        if population != "icbhi" and population not in measured_populations:
            continue
        if population == "icbhi" and "icbhi_adults" not in report:
            continue
        got = measured.get(name)
        checks[name] = {"manifest": value, "measured": got, "ok": got is not None and abs(value - got) <= tolerance}
    return {"tolerance": tolerance, "all_ok": bool(checks) and all(c["ok"] for c in checks.values()), "metrics": checks}


def _validation_figures(patient):
    """A population's (or one of its devices') entry in the manifest's ``validation`` block, from its
    :func:`patient_metrics`."""
    return {"patients": patient["patients"], "assessable_patients": patient["assessable_patients"],
            "positive_patients": patient["positive_patients"],
            "not_assessable_patients": patient["not_assessable"]["patients"],
            "recordings": patient["recordings"], "refused_recordings": patient["refused_recordings"],
            "auc": patient["auc"], "auc_ci95": patient["auc_ci95"],
            "sensitivity": patient["sensitivity"]["value"], "sensitivity_ci95": patient["sensitivity"]["ci95"],
            "specificity": patient["specificity"]["value"], "specificity_ci95": patient["specificity"]["ci95"],
            "threshold": patient["threshold"]}


def validation_block(test_report, *, digests, datasets):
    """The manifest's ``validation`` block: patient-level figures per population (test patients).

    ``digests`` is ``{population: sha256 of its test patients}``; ``datasets`` describes each
    population (``{"dataset", "age_range", "devices"}``, and ``reproduce`` where its command is not the
    shared data's). Each population's ``by_device`` gives the same figures over each device's recordings
    alone (:func:`subgroup_metrics`; a device whose assessable patients are of one class has none and is
    left out): pooled figures hide a chest piece that misses most crackles.
    """
    populations = {}
    for pop, section in test_report["populations"].items():
        patient = section["patient"]
        if "auc" not in patient:
            continue
        populations[pop] = {
            **datasets.get(pop, {}), **_validation_figures(patient),
            "by_device": {device: _validation_figures(figures)
                          for device, figures in section["subgroups"]["patient_by_device"].items() if "auc" in figures},
            "test_patients_sha256": digests.get(pop),
            "reproduce": datasets.get(pop, {}).get(
                "reproduce", f"ildscreen audio evaluate --data ../shared/data --population {cohort(pop)} --json"),
        }
    return {"unit": "patient", "ci_method": "patient_cluster_bootstrap", "ci_floor": CI_FLOOR,
            "bootstrap": {"replicates": BOOTSTRAP_REPLICATES, "seed": BOOTSTRAP_SEED}, "patient_rule": PATIENT_RULE,
            "threshold": test_report["threshold"], "populations": populations}


def part_patients(recordings):
    """``{population: sorted patient keys}`` of a set of recordings (one part of the split)."""
    groups = {}
    for recording in recordings:
        groups.setdefault(population_key(recording), set()).add(splits.patient_key(recording.dataset_family,
                                                                                   recording.patient_id))
    return {pop: sorted(keys) for pop, keys in sorted(groups.items())}


def part_digests(recordings):
    """``{population: sha256 of its patients}`` of a set of recordings (one part of the split)."""
    return {pop: splits.keys_digest(keys) for pop, keys in part_patients(recordings).items()}


def device_summary(patient):
    """One device's :func:`patient_metrics` as a line of the HTML report's per-device table.

    Examples
    --------
    >>> device_summary({"patients": 15, "positive_patients": 3, "not_assessable": {"patients": 2},
    ...                 "recordings": 15, "refused_recordings": 2, "auc": 0.6, "auc_ci95": [0.27, 0.89],
    ...                 "sensitivity": {"value": 0.0, "ci95": [0.0, 0.56]},
    ...                 "specificity": {"value": 1.0, "ci95": [0.72, 1.0]}})
    '15 patients (3 with crackles, 2 not assessable), 15 recordings (2 refused): AUC 0.60 (0.27-0.89), sensitivity 0.00 (0.00-0.56), specificity 1.00 (0.72-1.00)'
    """
    line = (f"{patient['patients']} patients ({patient['positive_patients']} with crackles, "
            f"{patient['not_assessable']['patients']} not assessable), {patient['recordings']} recordings "
            f"({patient['refused_recordings']} refused)")
    if "auc" not in patient:
        return f"{line}: {patient['note']}"
    ci = lambda value, bounds: f"{value:.2f} ({bounds[0]:.2f}-{bounds[1]:.2f})"
    return (f"{line}: AUC {ci(patient['auc'], patient['auc_ci95'])}, sensitivity "
            f"{ci(patient['sensitivity']['value'], patient['sensitivity']['ci95'])}, specificity "
            f"{ci(patient['specificity']['value'], patient['specificity']['ci95'])}")


def write_html_report(report, rows, out_dir):
    """``predictions.csv``, the evaluation toolkit's report per population (ROC, reliability plot,
    subgroups by device, age band and chest location) and ``audio_metrics.json`` with everything."""
    import csv
    import json
    import pathlib

    from evaluation.report import write_report

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = {}
    for pop, members in by_population(rows).items():
        accepted = _accepted(members)
        if len({row["label"] for row in accepted}) < 2:
            continue
        folder = out_dir / pop
        folder.mkdir(exist_ok=True)
        predictions = folder / "predictions.csv"
        with predictions.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["recording", "patient", "label", "probability", "sex", "age", "location", "device",
                             "other_sounds"])
            for row in accepted:
                writer.writerow([row["name"], row["patient"], row["label"], row["crackle_probability"], row["sex"],
                                 row["age_y"], row["location"], row["device"], row["other_sounds"]])
        section = report["populations"][pop]
        appendix = {"Patient level (the screening's rule)": section["patient"],
                    "Patient level per device": {device: device_summary(figures) for device, figures
                                                 in section["subgroups"]["patient_by_device"].items()},
                    "Crackle recordings against each kind of crackle-free recording":
                        section["subgroups"]["against_crackle_free"],
                    "Quality gate": section["quality_gate"]}
        if "events" in section:
            appendix["Event-level detection"] = section["events"]
        if pop == "adults" and "icbhi_adults" in report:
            appendix["ICBHI adult cross-device check"] = {
                f["file"]: {"probability": f["crackle_probability"], "called_positive": f["called_positive"],
                            "quality_ok": f["quality_ok"], "annotated_crackles": f["annotated_crackles"]}
                for f in report["icbhi_adults"]["files"]}
        if "int8" in report and pop in report["int8"]:
            appendix["INT8 beside FP32"] = report["int8"][pop]
        write_report(predictions, folder, threshold=section["threshold"], subgroup_columns=("sex", "age", "location", "device"),
                     band_age=age_band, title=f"Crackle model on held-out recordings: {pop}", appendix=appendix)
        pages[pop] = folder / "report.html"
    (out_dir / "audio_metrics.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    index = out_dir / "report.html"
    links = "".join(f'<li><a href="{pop}/{page.name}">{pop}</a></li>' for pop, page in pages.items())
    index.write_text(f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Crackle model: held-out "
                     f"populations</title></head><body><main><h1>Crackle model on held-out patients, per population</h1>"
                     f"<ul>{links}</ul><p>Every figure is in audio_metrics.json.</p></main></body></html>\n",
                     encoding="utf-8")
    return index
