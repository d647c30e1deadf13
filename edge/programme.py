"""The programme's figures for the dashboard and its exports: aggregates only, no patient rows.

Screened, referred, HRCT done, ILD confirmed; referral yield (PPV) and HRCT completion with
Wilson intervals; time from referral to HRCT; the risk distribution by month; the calibration of
the risk on confirmed outcomes, weighted for verification by tier (Begg & Greenes); drift of each
model's output against its training distribution (PSI); quality-gate refusals per device.

A model's training output distribution is not shipped with it, so it is rebuilt from what is:
its training prevalence and the AUC its manifest states (held-out metrics of the labs and breath
models, the crackle detector's validation block), through the same equal-variance binormal model
the evidence model uses (:func:`edge.fusion.evidence.binormal_separation`). A model whose
manifest states no AUC gets no drift figure.

The same figures leave the clinic for the regional programme view as a de-identified aggregate
(:func:`programme_figures`, sent through the outbox): counts, proportions, the calibration summary,
model and calibration versions, drift and data quality, for a reporting month. No patient code,
no row, no date finer than a month. Small cells are suppressed as statistical disclosure control
does it (CMS cell size suppression policy, ResDAC 2017: no cell of 1 to the threshold shown, zero
allowed, and no cell that lets a suppressed one be derived, e.g. the complement of a proportion);
the threshold (counts 1-4 by default) is a programme assumption, setting ``programme_min_cell``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import statistics
from typing import Optional

import numpy as np
import sqlite_utils

from edge import outbox
from edge.fusion.evidence import MODALITIES, binormal_separation, stethoscope_free_population, tabular_auc
from edge.errors import ModelUnavailable
from edge.inference.bundles import selected_bundle
from edge.inference.models import ModelError, validation_status
from edge.modalities import manifest_entry
from edge.outcome_labels import assessed_visits, verified_with_weights, window_days
from edge.outcomes import list_outcomes
from edge.errors import ValidationError
from edge.site_calibration import selected_calibration
from evaluation.drift import population_stability_index
from evaluation.errors import EvaluationError
from evaluation.proportions import wilson_interval
from evaluation.recalibration import (
    calibration_in_the_large,
    calibration_slope,
    expit,
    logit,
    weighted_calibration_curve,
    weighted_expected_calibration_error,
)
from imaging_client.client import FIGURES_LABEL, FIGURES_SCHEMA

REFERENCE_DRAWS = 20000
REFERENCE_SEED = 17  # fixed: the same reference every time
MIN_FOR_DRIFT = 30  # fewer outputs than this give no PSI (too noisy to alert on)


def proportion(successes: int, total: int) -> dict:
    if total == 0:
        return {"value": None, "ci95": None, "k": 0, "n": 0}
    return {"value": successes / total, "ci95": list(wilson_interval(successes, total)), "k": successes, "n": total}


def stated_auc(name: str) -> Optional[float]:
    """The AUC a model's manifest states for it, or None."""
    entry = manifest_entry(name)
    if name == "auscultation":
        validation = entry.get("validation") or {}
        populations = validation.get("populations") or {}
        return (populations.get(stethoscope_free_population(populations)) or validation).get("auc")
    auc = tabular_auc(entry)
    return auc[0] if auc else None


def training_outputs(training_prevalence: float, auc: float) -> np.ndarray:
    """Outputs a calibrated model with this AUC gives on its training population (binormal)."""
    rng = np.random.default_rng(REFERENCE_SEED)
    d = binormal_separation(auc)
    has_ild = rng.uniform(size=REFERENCE_DRAWS) < training_prevalence
    x = rng.standard_normal(REFERENCE_DRAWS) + d * has_ild
    return expit(logit(training_prevalence) + d * x - d * d / 2)


def _referrals(db: sqlite_utils.Database) -> list[dict]:
    return db.execute_returning_dicts(
        "SELECT r.id, r.visit_id, r.created_at, v.patient_id, v.started_at FROM referrals r "
        "JOIN visits v ON v.id = r.visit_id WHERE r.status != 'rejected' ORDER BY r.id")


def referral_figures(db: sqlite_utils.Database, visits: list[dict], window_months: float) -> dict:
    referrals = _referrals(db)
    window = dt.timedelta(days=window_days(window_months))
    label_of = {visit["visit_id"]: visit["label"] for visit in visits}
    scanned, days_to_hrct, confirmed, present = 0, [], 0, 0
    for referral in referrals:
        referred_on = dt.date.fromisoformat(referral["created_at"][:10])
        scans = [item for item in list_outcomes(db, referral["patient_id"]) if item["source"] == "hrct"
                 and referred_on <= dt.date.fromisoformat(item["date"]) <= referred_on + window]
        if scans:
            scanned += 1
            days_to_hrct.append((dt.date.fromisoformat(scans[0]["date"]) - referred_on).days)
        if label_of.get(referral["visit_id"]) is not None:
            confirmed += 1
            present += label_of[referral["visit_id"]]
    quartiles = statistics.quantiles(days_to_hrct, n=4) if len(days_to_hrct) >= 2 else None
    return {
        "referred": len(referrals), "hrct_done": scanned,
        "hrct_completion": proportion(scanned, len(referrals)),
        "referral_yield": proportion(present, confirmed),
        "days_to_hrct": {"median": statistics.median(days_to_hrct) if days_to_hrct else None,
                         "iqr": [quartiles[0], quartiles[2]] if quartiles else None, "n": len(days_to_hrct)},
    }


def risk_by_month(visits: list[dict]) -> list[dict]:
    months: dict[str, list[float]] = {}
    for visit in visits:
        months.setdefault(visit["visit_date"][:7], []).append(visit["probability"])
    return [{"month": month, "n": len(values), "p10": float(np.quantile(values, 0.1)),
             "median": float(np.median(values)), "p90": float(np.quantile(values, 0.9))}
            for month, values in sorted(months.items())]


def calibration_figures(visits: list[dict], *, n_bins: int = 10) -> Optional[dict]:
    """Calibration on the confirmed outcomes, weighted for verification; each bin also carries its
    unweighted ``events`` (for small-cell control), or None without outcomes."""
    try:
        labelled, weights, fractions = verified_with_weights(visits)
    except ValidationError:
        return None
    y = np.array([visit["label"] for visit in labelled])
    p = np.array([visit["probability"] for visit in labelled])
    try:
        slope = calibration_slope(y, p, weights=weights)
    except EvaluationError:  # one class only, or a fit that does not converge
        slope = None
    # The unweighted curve's observed share times its count is the number of events in the bin.
    bins = [{**weighted, "events": int(round(plain["observed"] * plain["count"]))}
            for weighted, plain in zip(weighted_calibration_curve(y, p, weights=weights, n_bins=n_bins),
                                       weighted_calibration_curve(y, p, n_bins=n_bins)) if weighted["count"]]
    return {"n_outcomes": int(y.size), "n_events": int(y.sum()), "bins": bins,
            "ece": weighted_expected_calibration_error(y, p, weights=weights),
            "calibration_in_the_large": calibration_in_the_large(y, p, weights=weights),
            "calibration_slope": slope, "verification_by_tier": fractions}


def drift_figures(visits: list[dict], *, alert_at: float) -> list[dict]:
    rows = []
    for name in MODALITIES:
        outputs = [visit["modality_probabilities"][name] for visit in visits if name in visit["modality_probabilities"]]
        prevalences = [visit["training_prevalences"][name] for visit in visits if name in visit["training_prevalences"]]
        row = {"modality": name, "n": len(outputs), "psi": None, "alert": False}
        auc = stated_auc(name)
        if len(outputs) >= MIN_FOR_DRIFT and prevalences and auc is not None:
            reference = training_outputs(float(np.median(prevalences)), auc)
            row["psi"] = population_stability_index(reference, np.array(outputs))
            row["alert"] = row["psi"] > alert_at
        rows.append(row)
    return rows


def quality_refusals(db: sqlite_utils.Database) -> list[dict]:
    """Per device (``upload`` when none): readings, how many the quality gate refused, and the share.

    Takes the nurse discarded (re-recorded) count too, from their audit entries: a refused take
    that was re-recorded is still a refusal. ``discarded`` says how many of the readings those are.
    """
    counts: dict[tuple[str, str], list[int]] = {}
    for kind, table in (("lung sounds", "recordings"), ("breath", "breath_readings")):
        for row in db.execute_returning_dicts(f"SELECT device_id, quality FROM {table}"):
            quality = json.loads(row["quality"]) if row["quality"] else {}
            entry = counts.setdefault((kind, row["device_id"] or "upload"), [0, 0, 0])
            entry[0] += 1
            entry[1] += int(quality.get("ok") is False)
    for (detail,) in db.execute("SELECT detail FROM audit_log WHERE entity = 'recording' AND action = 'discard'"):
        detail = json.loads(detail) if detail else {}
        entry = counts.setdefault(("lung sounds", detail.get("device") or "upload"), [0, 0, 0])
        entry[0] += 1
        entry[1] += int(detail.get("refused") is True)
        entry[2] += 1
    return [{"kind": kind, "device": device, "readings": total, "refused": refused, "discarded": discarded,
             "share": refused / total} for (kind, device), (total, refused, discarded) in sorted(counts.items())]


def programme_summary(db: sqlite_utils.Database, *, window_months: float, psi_alert: float,
                      visits: Optional[list[dict]] = None) -> dict:
    """The clinic's figures; ``visits`` (from :func:`assessed_visits`) when the caller has them."""
    visits = assessed_visits(db, window_months=window_months) if visits is None else visits
    labelled = [visit for visit in visits if visit["label"] is not None]
    return {
        "screened_patients": len({visit["patient_id"] for visit in visits}),
        "assessed_visits": len(visits),
        **referral_figures(db, visits, window_months),
        "ild_confirmed": sum(visit["label"] for visit in labelled),
        "outcomes_confirmed": len(labelled),
        "risk_by_month": risk_by_month(visits),
        "calibration": calibration_figures(visits),
        "drift": drift_figures(visits, alert_at=psi_alert),
        "psi_alert": psi_alert,
        "quality_refusals": quality_refusals(db),
        "window_months": window_months,
    }


CSV_FIELDS = ("section", "item", "value", "ci_low", "ci_high", "n")


def summary_rows(summary: dict) -> list[dict]:
    """The summary as flat CSV rows for a programme report."""
    rows = [{"section": "counts", "item": key, "value": summary[key]}
            for key in ("screened_patients", "assessed_visits", "referred", "hrct_done", "ild_confirmed",
                        "outcomes_confirmed")]
    for key in ("referral_yield", "hrct_completion"):
        item = summary[key]
        rows.append({"section": "proportions", "item": key, "value": item["value"],
                     "ci_low": item["ci95"][0] if item["ci95"] else None,
                     "ci_high": item["ci95"][1] if item["ci95"] else None, "n": item["n"]})
    days = summary["days_to_hrct"]
    rows.append({"section": "timing", "item": "days_to_hrct_median", "value": days["median"],
                 "ci_low": days["iqr"][0] if days["iqr"] else None, "ci_high": days["iqr"][1] if days["iqr"] else None,
                 "n": days["n"]})
    for month in summary["risk_by_month"]:
        rows.append({"section": "risk_by_month", "item": month["month"], "value": month["median"],
                     "ci_low": month["p10"], "ci_high": month["p90"], "n": month["n"]})
    if summary["calibration"]:
        for key in ("ece", "calibration_in_the_large"):
            rows.append({"section": "calibration", "item": key, "value": summary["calibration"][key],
                         "n": summary["calibration"]["n_outcomes"]})
    for drift in summary["drift"]:
        rows.append({"section": "drift_psi", "item": drift["modality"], "value": drift["psi"], "n": drift["n"]})
    for refusal in summary["quality_refusals"]:
        rows.append({"section": "quality_refusals", "item": f"{refusal['kind']}: {refusal['device']}",
                     "value": refusal["refused"], "n": refusal["readings"]})
    return rows


PAYLOAD_BINS = 5  # calibration bins 0.2 wide: fewer small cells to suppress than the dashboard's 10 (programme choice)
COUNT_FIELDS = ("screened_patients", "assessed_visits", "referred", "hrct_done", "ild_confirmed", "outcomes_confirmed")


def reporting_period(today: Optional[dt.date] = None) -> str:
    """The reporting month (UTC) a payload sent today belongs to, e.g. ``2026-11``."""
    return f"{today or dt.datetime.now(dt.timezone.utc).date():%Y-%m}"


class SmallCells:
    """Primary and complementary small-cell suppression with threshold ``minimum`` (module docstring).

    A count c is small when 0 < c < minimum; zero is shown. Every suppressed cell is named in
    ``suppressed`` so the receiver knows a total is a lower bound rather than the truth.
    """

    def __init__(self, minimum: int):
        if minimum < 1:
            raise ValidationError(f"the small-cell threshold must be >= 1, got {minimum}")
        self.minimum = minimum
        self.suppressed: list[str] = []

    def small(self, count: int) -> bool:
        return 0 < count < self.minimum

    def count(self, path: str, value: int) -> Optional[int]:
        if self.small(value):
            self.suppressed.append(path)
            return None
        return value

    def proportion(self, path: str, successes: int, total: int) -> dict:
        """A proportion, hidden whole when its numerator, complement or denominator is small."""
        if self.small(successes) or self.small(total - successes) or self.small(total):
            self.suppressed.append(path)
            return {"value": None, "ci95": None, "k": None, "n": None}
        return proportion(successes, total)


def _calibration_payload(calibration: Optional[dict], cells: SmallCells) -> Optional[dict]:
    """The calibration summary; a bin's observed share hidden when its events or non-events are small."""
    if calibration is None:
        return None
    n, events = calibration["n_outcomes"], calibration["n_events"]
    if cells.small(n) or cells.small(events) or cells.small(n - events):
        cells.suppressed.append("calibration")
        return None
    bins = []
    for number, item in enumerate(calibration["bins"]):
        shown = {key: item[key] for key in ("low", "high", "count", "mean_predicted", "observed")}
        if cells.small(item["count"]):
            shown.update(count=None, mean_predicted=None, observed=None)
        elif cells.small(item["events"]) or cells.small(item["count"] - item["events"]):
            shown.update(observed=None)
        if shown["observed"] is None:
            cells.suppressed.append(f"calibration.bins[{number}]")
        bins.append(shown)
    return {"n_outcomes": n, "n_events": events, "ece": calibration["ece"],
            "calibration_in_the_large": calibration["calibration_in_the_large"],
            "calibration_slope": calibration["calibration_slope"], "bins": bins}


def _models_payload() -> dict:
    """The bundle, each model's version and validation status, and the active site calibration."""
    selection = selected_calibration()
    versions = {}
    for name in MODALITIES:
        try:
            entry = manifest_entry(name)
            status = validation_status(entry, name=name)
        except (ModelError, ModelUnavailable):
            continue
        versions[name] = {"version": str(entry.get("version")), "synthetic": status.synthetic,
                          "clinically_validated": status.clinically_validated}
    return {"bundle": selected_bundle().bundle_id, "models": versions,
            "calibration_version": selection.active.version if selection.active else None}


def device_label(device: str) -> str:
    """A board's id as the figures carry it: the id when it is a plain label (letters, digits,
    ``._:+/ -``, as the hospital accepts), else ``device-`` and the start of its SHA-256, so that
    free text a board reports never leaves the clinic."""
    if re.fullmatch(FIGURES_LABEL, device):
        return device
    return "device-" + hashlib.sha256(device.encode("utf-8")).hexdigest()[:12]


def _data_quality(visits: list[dict], refusals: list[dict], cells: SmallCells) -> dict:
    missing = {name: cells.proportion(f"data_quality.missing_modality.{name}",
                                      sum(name not in visit["modality_probabilities"] for visit in visits), len(visits))
               for name in MODALITIES}
    gate = [{"kind": row["kind"], "device": device_label(row["device"]),
             "refusals": cells.proportion(f"data_quality.quality_refusals[{number}]", row["refused"], row["readings"])}
            for number, row in enumerate(refusals)]
    return {"missing_modality": missing, "quality_refusals": gate}


def programme_figures(db: sqlite_utils.Database, *, window_months: float, psi_alert: float, min_cell: int,
                      period: Optional[str] = None) -> dict:
    """The de-identified aggregate the clinic sends to the programme view (module docstring).

    Figures are cumulative over every assessed visit up to now; ``period`` (default this month)
    is the reporting month the hospital keys them by, so a later send in the month replaces an
    earlier one. ``sequence`` is set when the outbox queues the payload.
    """
    visits = assessed_visits(db, window_months=window_months)
    summary = programme_summary(db, window_months=window_months, psi_alert=psi_alert, visits=visits)
    cells = SmallCells(min_cell)
    months = sorted(visit["visit_date"][:7] for visit in visits)
    days = summary["days_to_hrct"]
    return {
        "schema": FIGURES_SCHEMA,
        "period": period or reporting_period(),
        "covers": {"first_month": months[0], "last_month": months[-1]} if months else None,
        "window_months": window_months,
        "min_cell": min_cell,
        "counts": {key: cells.count(f"counts.{key}", summary[key]) for key in COUNT_FIELDS},
        "proportions": {
            "referral_yield": cells.proportion("proportions.referral_yield", summary["referral_yield"]["k"],
                                               summary["referral_yield"]["n"]),
            "hrct_completion": cells.proportion("proportions.hrct_completion", summary["hrct_completion"]["k"],
                                                summary["hrct_completion"]["n"]),
        },
        "days_to_hrct": ({"median": days["median"], "iqr": days["iqr"], "n": days["n"]}
                         if cells.count("days_to_hrct", days["n"]) is not None
                         else {"median": None, "iqr": None, "n": None}),
        "calibration": _calibration_payload(calibration_figures(visits, n_bins=PAYLOAD_BINS), cells),
        **_models_payload(),
        "drift": [{"modality": row["modality"], "n": cells.count(f"drift.{row['modality']}", row["n"]),
                   "psi": row["psi"]} for row in summary["drift"]],
        "data_quality": _data_quality(visits, summary["quality_refusals"], cells),
        "suppressed": cells.suppressed,
    }


def figures_due(db: sqlite_utils.Database, *, every_hours: float, now: Optional[dt.datetime] = None) -> bool:
    """Whether the schedule calls for new figures: none queued yet, or the last is ``every_hours`` old."""
    if every_hours <= 0:
        return False
    last = outbox.last_programme_report(db)
    if last is None:
        return True
    now = now or dt.datetime.now(dt.timezone.utc)
    return now - dt.datetime.fromisoformat(last["created_at"]) >= dt.timedelta(hours=every_hours)


def queue_figures(db: sqlite_utils.Database, settings) -> dict:
    """Compute this clinic's figures from its settings and queue them in the outbox."""
    payload = programme_figures(db, window_months=settings.outcome_window_months, psi_alert=settings.psi_alert,
                                min_cell=settings.programme_min_cell)
    return outbox.queue_programme_figures(db, payload)
