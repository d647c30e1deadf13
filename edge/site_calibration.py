"""Site calibration: one logistic map (intercept, slope) of the fused ILD probability, fitted on
the clinic's own confirmed outcomes by ``ildscreen calibrate``, versioned in the models folder.

Layout (``<models folder>/calibrations``), managed like model bundles and with their helpers
(:class:`edge.inference.bundles.ModelStore`: atomic ``active`` pointer, append-only
``history.jsonl``, rollback along the history)::

    versions/<version>/calibration.json   one folder per fitted calibration, never edited
    active                                the version assessments use; absent: ``bundled``
    history.jsonl                         every activation and rollback

``bundled`` is the shipped calibration: the fused probability unchanged. A version id is
``site-<UTC time>_<first 12 hex of the file's sha256>``, so an edited file no longer matches.
The newest fitted version that was never activated runs in *shadow*: every assessment records
what it would have given, and nothing else changes.

A process uses the calibration active when it starts (:func:`select_active_calibration`), like
the model bundle: a switch while it runs would triage one clinic day on two calibrations.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Optional

from edge.errors import ModelUnavailable
from edge.inference.bundles import BUNDLED_ID, ID_HASH_DIGITS, BundleError, VersionFileStore
from evaluation.recalibration import LogisticRecalibration

logger = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"


@dataclasses.dataclass(frozen=True)
class SiteCalibration:
    """A fitted map of the fused probability; ``bundled`` is the identity."""

    version: str
    intercept: float = 0.0
    slope: float = 1.0
    # Per modality, the status the clinic's confirmed outcomes gave it (edge.calibration_fit,
    # ``modality_status``): ``{"validated", "reason", "auc", "auc_ci95", ...}``; None: none applied.
    modalities: Optional[dict] = dataclasses.field(default=None, compare=False)

    def apply(self, probability: float) -> float:
        if self.version == BUNDLED_ID:
            return float(probability)
        return float(LogisticRecalibration(self.intercept, self.slope, 0.0, 0.0).apply(probability))


IDENTITY = SiteCalibration(BUNDLED_ID)


class CalibrationStore(VersionFileStore):
    """The calibrations folder: ModelStore's pointer, history, lock and rollback, with a
    calibration file instead of a manifest per version."""

    file_name, noun, listed_as = CALIBRATION_FILE, "calibration", "fitted"

    def __init__(self, models_dir: Path):
        super().__init__(Path(models_dir) / "calibrations")

    def active_id(self) -> str:
        try:
            return super().active_id()
        except BundleError as exc:
            raise BundleError(f"active calibration pointer {self.pointer} cannot be used ({exc}): set it with "
                              "'ildscreen calibrations activate VERSION' or 'ildscreen calibrations rollback'") from exc

    def rollback(self) -> tuple[str, Optional[str]]:
        """Return to the calibration the latest remaining activation replaced (at the first: bundled)."""
        if not self._rollback_stack() and self._current_or_none() == BUNDLED_ID:
            raise BundleError("nothing to roll back: no site calibration was ever activated")
        return super().rollback()

    def document(self, version: str) -> dict:
        """The stored calibration file of a version (checked against its id)."""
        if version == BUNDLED_ID:
            return {"version": BUNDLED_ID, "intercept": 0.0, "slope": 1.0}
        _, data = self.read_checked(version)
        try:
            document = json.loads(data)
            float(document["intercept"]), float(document["slope"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"calibration {version} is unreadable: {exc}") from exc
        return {"version": version, **document}

    def load(self, version: str) -> SiteCalibration:
        document = self.document(version)
        return SiteCalibration(version, float(document["intercept"]), float(document["slope"]),
                               document.get("modalities"))

    def describe(self, version: str) -> dict:
        try:
            document = self.document(version)
        except BundleError as exc:
            return {"version": version, "error": str(exc)}
        return {key: document.get(key) for key in ("version", "intercept", "slope", "fitted_at", "n_outcomes",
                                                   "n_events")}

    def shadow_id(self) -> Optional[str]:
        """The newest fitted version never activated, when it is not the active one."""
        activated = {event.get("bundle") for event in self.history()}
        candidates = [version for version in self.installed_ids() if version not in activated]
        return candidates[-1] if candidates else None

    def save(self, document: dict, *, activate: bool) -> tuple[str, Optional[str]]:
        """Store a fitted calibration as a new version; activate it when asked.

        Returns ``(version, previous active version or None when not activated)``.
        """
        data = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        version = f"site-{stamp}_{hashlib.sha256(data).hexdigest()[:ID_HASH_DIGITS]}"
        with self._locked():
            self.commit_version(version, {CALIBRATION_FILE: data})
            previous = self._switch(version, "apply") if activate else None
        logger.info("site calibration %s stored%s", version, " and activated" if activate else " (shadow)")
        return version, previous

    def _require_intact(self, version: str) -> None:
        self.load(version)


@dataclasses.dataclass(frozen=True)
class SelectedCalibration:
    """What this process applies (and runs in shadow), or why it cannot apply anything."""

    active: Optional[SiteCalibration]
    shadow: Optional[SiteCalibration] = None
    error: Optional[str] = None


_selection = SelectedCalibration(IDENTITY)


def select_active_calibration(models_dir: Path) -> SelectedCalibration:
    """Use the models folder's active (and shadow) calibration in this process from now on.

    Never raises: an unusable pointer or file becomes the selection's ``error``, and every
    assessment is then refused with that reason rather than triaged on another calibration.
    """
    global _selection
    store = CalibrationStore(models_dir)
    try:
        active = store.load(store.active_id())
    except BundleError as exc:
        _selection = SelectedCalibration(None, error=str(exc))
        logger.error("no site calibration usable: %s", exc)
        return _selection
    shadow_id = store.shadow_id()
    try:
        shadow = store.load(shadow_id) if shadow_id else None
    except BundleError as exc:
        logger.warning("shadow calibration not run: %s", exc)
        shadow = None
    _selection = SelectedCalibration(active, shadow)
    return _selection


def selected_calibration() -> SelectedCalibration:
    return _selection


def recalibrated(fused: dict) -> dict:
    """The fused result with probability, score and interval mapped by this process's site
    calibration, plus ``calibration``: ``{"version", "fused_probability", "shadow"}``.

    Raises ``ModelUnavailable`` when the active calibration cannot be used.
    """
    selection = _selection
    if selection.active is None:
        raise ModelUnavailable(f"site calibration unavailable: {selection.error}")
    calibration = selection.active
    probability = calibration.apply(fused["probability"])
    low, high = (calibration.apply(value) for value in fused["interval"])
    shadow = None
    if selection.shadow is not None:
        shadow = {"version": selection.shadow.version, "probability": selection.shadow.apply(fused["probability"])}
    mapped = {}
    if fused.get("if_missing_measured"):  # what missing tests could change, on the same (recalibrated) scale
        missing = fused["if_missing_measured"]
        mapped["if_missing_measured"] = {**missing, "low": calibration.apply(missing["low"]),
                                         "high": calibration.apply(missing["high"])}
    return {**fused, **mapped, "probability": probability, "score": int(round(probability * 100)),
            "interval": [min(low, probability), max(high, probability)],
            "calibration": {"version": calibration.version, "fused_probability": fused["probability"],
                            "shadow": shadow}}


def select_calibration(selection: SelectedCalibration) -> SelectedCalibration:
    """Use ``selection`` in this process from now on (tests restore what was selected)."""
    global _selection
    _selection = selection
    return selection
