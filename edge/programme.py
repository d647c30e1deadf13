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
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
from typing import Optional

import numpy as np
import sqlite_utils

from edge.fusion.evidence import MODALITIES, binormal_separation, tabular_auc
from edge.modalities import manifest_entry
from edge.outcome_labels import assessed_visits, verified_with_weights, window_days
from edge.outcomes import list_outcomes
from edge.errors import ValidationError
from evaluation.drift import population_stability_index
from evaluation.proportions import wilson_interval
from evaluation.recalibration import (
    calibration_in_the_large,
    expit,
    logit,
    weighted_calibration_curve,
    weighted_expected_calibration_error,
)

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
        return (entry.get("validation") or {}).get("auc")
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


def calibration_figures(visits: list[dict]) -> Optional[dict]:
    try:
        labelled, weights, fractions = verified_with_weights(visits)
    except ValidationError:
        return None
    y = np.array([visit["label"] for visit in labelled])
    p = np.array([visit["probability"] for visit in labelled])
    return {"n_outcomes": int(y.size), "n_events": int(y.sum()),
            "bins": [b for b in weighted_calibration_curve(y, p, weights=weights) if b["count"]],
            "ece": weighted_expected_calibration_error(y, p, weights=weights),
            "calibration_in_the_large": calibration_in_the_large(y, p, weights=weights),
            "verification_by_tier": fractions}


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
    """Per device (``upload`` when none): readings, how many the quality gate refused, and the share."""
    counts: dict[tuple[str, str], list[int]] = {}
    for kind, table in (("lung sounds", "recordings"), ("breath", "breath_readings")):
        for row in db.execute_returning_dicts(f"SELECT device_id, quality FROM {table}"):
            quality = json.loads(row["quality"]) if row["quality"] else {}
            entry = counts.setdefault((kind, row["device_id"] or "upload"), [0, 0])
            entry[0] += 1
            entry[1] += int(quality.get("ok") is False)
    return [{"kind": kind, "device": device, "readings": total, "refused": refused,
             "share": refused / total} for (kind, device), (total, refused) in sorted(counts.items())]


def programme_summary(db: sqlite_utils.Database, *, window_months: float, psi_alert: float) -> dict:
    visits = assessed_visits(db, window_months=window_months)
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
