"""The alternative to Bayes fusion: a stacked logistic model over the prior log-odds and each
modality's log likelihood ratio, with a missing-indicator per modality, learned on the
synthetic multimodal cohort (``edge.fusion.cohort``). Fitted with Newton-Raphson (numpy only,
so the serving path stays free of scikit-learn).

It can learn when modalities are not conditionally independent (correlated errors shrink
their weights); on conditionally independent data it should recover weights near 1.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import ValidationError
from edge.fusion.fusion import MODALITIES, logit, sigmoid

FEATURES = ("prior_log_odds",) + tuple(f"{m}_log_lr" for m in MODALITIES) + tuple(f"{m}_missing" for m in MODALITIES)


def design_row(prior_log_odds: float, log_lrs: dict[str, float]) -> np.ndarray:
    """Feature vector: a missing modality has log LR 0 and its missing-indicator set."""
    return np.array(
        [prior_log_odds]
        + [log_lrs.get(m, 0.0) for m in MODALITIES]
        + [0.0 if m in log_lrs else 1.0 for m in MODALITIES]
    )


@dataclass
class StackedFusion:
    """Logistic regression on ``FEATURES``; ``coef_`` and ``intercept_`` after ``fit``."""

    l2: float = 1e-3
    max_iter: int = 50
    coef_: np.ndarray = field(default=None, repr=False)
    intercept_: float = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> "StackedFusion":
        X1 = np.column_stack([np.ones(len(X)), X])
        w = np.zeros(X1.shape[1])
        penalty = self.l2 * np.eye(X1.shape[1])
        penalty[0, 0] = 0.0
        for _ in range(self.max_iter):
            p = sigmoid(X1 @ w)
            gradient = X1.T @ (p - y) + penalty @ w
            hessian = (X1 * (p * (1 - p))[:, None]).T @ X1 + penalty
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.max(np.abs(step)) < 1e-8:
                break
        self.intercept_, self.coef_ = float(w[0]), w[1:]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(self.intercept_ + X @ self.coef_)

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "intercept": self.intercept_, "coef": self.coef_.tolist(), "l2": self.l2}

    @classmethod
    def from_json(cls, data: dict) -> "StackedFusion":
        if data.get("features") != list(FEATURES):
            raise ValidationError(f"stacked fusion file has features {data.get('features')}, expected {list(FEATURES)}")
        model = cls(l2=data["l2"])
        model.intercept_, model.coef_ = float(data["intercept"]), np.array(data["coef"], dtype=float)
        return model

    @classmethod
    def load(cls, path: Path) -> "StackedFusion":
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def cohort_design(cohort, *, drop_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix of a synthetic cohort with each modality dropped at ``drop_rate``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, prior in enumerate(cohort.prior):
        log_lrs = {
            m: logit(cohort.modality_probability[m][i]) - logit(cohort.training_prevalence[m])
            for m in cohort.modality_probability if rng.uniform() >= drop_rate
        }
        rows.append(design_row(logit(prior), log_lrs))
    return np.array(rows), cohort.has_ild
