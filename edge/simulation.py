"""A simulated clinic, made through the library as a real one would be, for tests and demos.

A few hundred patients with connective-tissue disease, one screening visit each (spread over
the past year and a half), modality outputs drawn per visit, assessments by the service's own
``assess_visit``, referrals for the high tiers through the outbox, and HRCT outcomes from a
**known true model** that differs from the shipped calibration (``TRUE_INTERCEPT``,
``TRUE_SLOPE`` on the logit of the fused risk: lower prevalence, less extreme risks). Who gets
an HRCT follows the real referral rule, the guideline line's advice and the tier
(:func:`verification_chance`), so the outcomes are verification-biased as at a real site.
Nothing here is a patient; codes start with ``SIM``.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import sqlite_utils

from edge import audit, outbox, patients
from edge.fusion.evidence import ModalityEvidence
from edge.fusion.triage import TriageThresholds
from edge.outcome_labels import assessed_visits, awaiting_outcome, verified_with_weights
from edge.outcomes import record_outcome
from edge.schemas import PatientCreate
from edge.screening import assess_visit
from edge.store.database import write_transaction
from edge.vocabulary import DEFINED_CTD_DIAGNOSES, SYMPTOMS
from evaluation.verification import verification_fractions
from evaluation.recalibration import (
    calibration_in_the_large,
    expit,
    logit,
    weighted_expected_calibration_error,
)

TRUE_INTERCEPT = -1.0  # the site's truth: lower odds of ILD than the shipped risk says ...
TRUE_SLOPE = 0.7  # ... and less extreme risks
# Chance of an HRCT within the window, by the assessment's advice (and, for HRCT + PFTs, its tier):
# referral when HRCT + PFTs is advised (whatever the tier: a guideline line advises it even at
# low risk), a discussion with the rheumatologist for "discuss", an occasional outside scan for
# "re-screen" and for "PFTs" after a negative HRCT. Simulation assumptions, not guidance.
VERIFICATION_BY_ADVICE = {"hrct_pfts": {"urgent": 0.95, "high": 0.85, "intermediate": 0.6, "low": 0.5},
                          "discuss": 0.35, "rescreen": 0.08, "pfts": 0.08}
REFERRAL_ADVICE = "hrct_pfts"  # the advice a referral is sent for (edge.outbox)


def verification_chance(tier: str, advice: str) -> float:
    """The chance a visit gets an HRCT within its window under the referral rule (tier x advice)."""
    chance = VERIFICATION_BY_ADVICE[advice]
    return chance[tier] if isinstance(chance, dict) else chance
INDETERMINATE_SHARE = 0.03
PFT_SHARE = 0.6  # of intermediate and higher tiers: PFTs are recorded but never a label
TRAINING_PREVALENCE = 0.29  # as in the synthetic lab and breath cohorts' manifests
ANTIBODIES_BY_CTD = {"SSc": ["anti-Scl-70", "anti-centromere"], "RA": ["anti-CCP-high-titre", "RF-high-titre"],
                     "IIM": ["anti-Jo-1", "anti-MDA5"], "SjD": ["anti-SSA", "anti-Ro52"], "SLE": ["anti-dsDNA"],
                     "MCTD": ["anti-U1-RNP"]}
SIMULATOR = audit.Actor(user_id=None, username="simulation", role="clinician")


def _backdate(db: sqlite_utils.Database, table: str, row_id: int, column: str, when: dt.datetime) -> None:
    with write_transaction(db):
        db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", [when.isoformat(timespec="milliseconds"), row_id])


def _patient(rng: np.random.Generator, index: int, seed: int, today: dt.date) -> dict:
    ctd = str(rng.choice(list(DEFINED_CTD_DIAGNOSES)))
    antibodies = [name for name in ANTIBODIES_BY_CTD[ctd] if rng.uniform() < 0.4]
    symptoms = [name for name in ("exertional_dyspnoea", "dry_cough", "fatigue", "raynaud")
                if name in SYMPTOMS and rng.uniform() < 0.3]
    return PatientCreate(code=f"SIM{seed % 100:02d}-{index:04d}", birth_year=int(today.year - rng.integers(55, 86)),
                         sex="F" if rng.uniform() < 0.75 else "M", ctd_diagnosis=ctd, autoantibodies=antibodies,
                         smoking=str(rng.choice(["never", "former", "current"], p=[0.6, 0.3, 0.1])),
                         symptoms=symptoms).model_dump()


SIMULATED = {"synthetic": True, "clinically_validated": False, "training_population": "simulated demonstration site",
             "statement": "Simulated model output for a demonstration site; not a model; not for clinical use."}


def simulated_evidence(name: str, probability: float, *, prevalence: float = TRAINING_PREVALENCE) -> ModalityEvidence:
    """A modality output as a calibrated model at ``prevalence`` would give it: LR = odds ratio."""
    log_lr = float(logit(probability) - logit(prevalence))
    return ModalityEvidence(name, log_lr, (log_lr, log_lr), f"{name}-simulated", dict(SIMULATED),
                            finding={"probability": probability, "training_prevalence": prevalence})


def _evidence(rng: np.random.Generator) -> dict:
    """Scorers giving this visit's drawn modality outputs (a modality is sometimes missing)."""
    scorers = {}
    for name in ("auscultation", "breath", "labs"):
        if rng.uniform() < 0.85:
            item = simulated_evidence(name, float(expit(rng.normal(logit(TRAINING_PREVALENCE) - 0.8, 1.4))))
            scorers[name] = lambda db, visit_id, picture, options, item=item: item
    return scorers


def simulate_site(db: sqlite_utils.Database, *, site_secret: bytes, n_patients: int, seed: int,
                  thresholds: TriageThresholds, window_months: float) -> dict:
    """Create the site in ``db``; returns counts and the true model's calibration on the outcomes."""
    rng = np.random.default_rng(seed)
    pft_rng = np.random.default_rng(seed + 1)  # its own stream: PFTs do not change who gets an HRCT
    today = dt.date.today()
    now = dt.datetime.now(dt.timezone.utc)
    truth = {}
    referred = 0
    for index in range(n_patients):
        patient = patients.create_patient(db, SIMULATOR, _patient(rng, index, seed, today))
        visit_at = now - dt.timedelta(days=float(rng.uniform(160, 540)))
        visit = patients.create_visit(db, SIMULATOR, patient["id"])
        _backdate(db, "visits", visit["id"], "started_at", visit_at)
        assessment = assess_visit(db, SIMULATOR, visit["id"], thresholds=thresholds, scorers=_evidence(rng))
        _backdate(db, "risk_assessments", assessment["id"], "created_at", visit_at)
        fused = assessment["calibration"]["fused_probability"]
        true_probability = float(expit(TRUE_INTERCEPT + TRUE_SLOPE * logit(fused)))
        truth[assessment["id"]] = true_probability
        has_ild = rng.uniform() < true_probability
        advice = assessment["recommendation"]["advice"]
        if advice == REFERRAL_ADVICE:
            referral = outbox.create_referral(db, SIMULATOR, visit["id"], site_secret=site_secret)
            _backdate(db, "referrals", referral["id"], "created_at", visit_at + dt.timedelta(days=1))
            referred += 1
        if assessment["tier"] != "low" and pft_rng.uniform() < PFT_SHARE:
            record_outcome(db, SIMULATOR, patient["id"], {
                "date": (visit_at.date() + dt.timedelta(days=int(pft_rng.integers(7, 60)))).isoformat(),
                "source": "pft", "ild": "indeterminate",
                "fvc_percent": float(np.round(pft_rng.normal(75 if has_ild else 92, 12), 0)),
                "dlco_percent": float(np.round(pft_rng.normal(58 if has_ild else 82, 12), 0))})
        if rng.uniform() < verification_chance(assessment["tier"], advice):
            ild = ("indeterminate" if rng.uniform() < INDETERMINATE_SHARE else "present" if has_ild else "absent")
            scan_day = visit_at.date() + dt.timedelta(days=int(rng.integers(14, 120)))
            record_outcome(db, SIMULATOR, patient["id"], {
                "date": scan_day.isoformat(), "source": "hrct", "ild": ild,
                "pattern": str(rng.choice(["NSIP", "UIP", "OP"], p=[0.6, 0.3, 0.1])) if ild == "present" else None,
                "extent_percent": float(np.round(rng.uniform(5, 40), 1)) if ild == "present" else None})
    visits = assessed_visits(db, window_months=window_months)
    labelled, weights, fractions = verified_with_weights(visits)
    closed = [visit for visit in visits if not awaiting_outcome(visit)]
    by_tier = verification_fractions([visit["tier"] for visit in closed],
                                     [visit["label"] is not None for visit in closed])
    y = np.array([visit["label"] for visit in labelled])
    true_p = np.array([truth[visit["assessment_id"]] for visit in labelled])
    shipped = np.array([visit["probability"] for visit in labelled])
    return {
        "patients": n_patients, "referred": referred, "verified": int(y.size), "events": int(y.sum()),
        "verification_by_tier": by_tier, "verification_by_stratum": fractions,
        "true_model": {"intercept": TRUE_INTERCEPT, "slope": TRUE_SLOPE,
                       "ece": weighted_expected_calibration_error(y, true_p, weights=weights),
                       "calibration_in_the_large": calibration_in_the_large(y, true_p, weights=weights)},
        "shipped": {"ece": weighted_expected_calibration_error(y, shipped, weights=weights),
                    "calibration_in_the_large": calibration_in_the_large(y, shipped, weights=weights)},
    }
