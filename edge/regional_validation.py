"""The region's validation of each modality, published by the hospital and installed at a clinic.

A federation's validation round (``federated/apps.py``) measures each modality on the confirmed
outcomes of every clinic that answered, without pooling a row: per modality the patients, those
with ILD, the number of clinics, the AUC with its DeLong 95% interval and the ECE, and for lung
sounds the basal crackle finding's sensitivity and specificity. Every figure is weighted for
verification and so is every interval (:mod:`evaluation.binned`: the sums carry the squared
weights); the file carries the Kish effective numbers of patients beside the counts. The hospital
turns a run's result into a **regional validation file** (:func:`document_from_federation`,
``ildscreen federated publish-validation``) and signs its exact bytes with the Ed25519 key whose
public half the clinics pin in ``model_signing_keys`` (the key that signs model bundles):
``regional-validation.json`` and ``regional-validation.json.sig`` beside it.

A clinic installs it with ``ildscreen regional-validation install FILE``. Layout
(``<models folder>/regional_validation``), managed like model bundles and site calibrations
(:class:`edge.inference.bundles.ModelStore`: atomic ``active`` pointer, append-only
``history.jsonl``, rollback)::

    versions/<version>/regional-validation.json(.sig)   one folder per installed file, never edited
    active                                              the version in use; absent: none

A version id is ``region-<issued UTC time>_<first 12 hex of the file's sha256>``. A file that is
not signed by a pinned key, is not such a document, or holds an impossible figure is refused with
the reason and nothing stored changes.

Format 2 (this one) has intervals that respect the verification weights. A format 1 file is
refused, installed or already active (then it is not used, with the reason): its intervals came
from the unweighted counts, too narrow under verification weights, so a modality could pass the
rule's lower bounds on evidence that does not support them. Its federation result cannot be
republished either (it lacks the effective counts): the region runs its validation round again.

What it does: the evidence model (:func:`edge.fusion.evidence.regional_status`) judges each
modality's regional figures by the same :class:`~edge.fusion.evidence.ValidationRule` rows as a
clinic's own outcomes (patients, patients with ILD, AUC lower bound) plus the fewest clinics, and
a modality that passes counts at a clinic where neither its manifest nor the clinic's own
outcomes validate it. A process reads the active file once, when it starts
(:func:`select_active_regional_validation`); a file that can no longer be trusted (altered, or
its key no longer pinned) is not used: a modality then counts only as it would without it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Literal, Optional

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.fusion.evidence import MODALITIES, regional_status
from edge.inference.bundle_checks import detached_signature_problem
from edge.inference.bundles import BUNDLED_ID, ID_HASH_DIGITS, BundleError, VersionFileStore

logger = logging.getLogger(__name__)

FILE_NAME = "regional-validation.json"
SIGNATURE_SUFFIX = ".sig"
KIND = "ildscreen.regional_validation"
FORMAT = 2  # 2: intervals weighted for verification; 1 (refused): intervals of the unweighted counts
FORMAT_1_REASON = ("format 1: its intervals come from the unweighted counts and are too narrow under "
                   "verification weights; ask the hospital for a format 2 file from a new validation round")
MAX_FILE_BYTES = 256 * 1024  # a few modalities' figures: a few kilobytes
NONE_ID = BUNDLED_ID  # no regional validation installed (the pointer absent), as ModelStore calls it


class RegionalValidationError(BundleError):
    """A regional validation file that cannot be installed or used, with the reason."""


class RegionalFigures(BaseModel):
    """One modality's figures on the region's confirmed outcomes (one labelled visit per patient)."""

    model_config = ConfigDict(extra="forbid", title="A modality's regional validation")

    patients: int = Field(..., ge=0, title="Patients with a confirmed outcome and the modality measured")
    positive_patients: int = Field(..., ge=0, title="Of them, patients with ILD")
    clinics: int = Field(..., ge=1, title="Clinics that answered the validation round")
    auc: Optional[float] = Field(None, ge=0, le=1, title="AUC (verification-weighted)")
    auc_ci95: Optional[tuple[float, float]] = Field(None, title="DeLong 95% interval of the AUC, weighted "
                                                                 "(squared verification weights per bin)")
    effective_patients: Optional[float] = Field(..., ge=0, title="Kish effective number of patients: cases' "
                                                                 "plus non-cases' (sum w)^2 / sum w^2 (None: not "
                                                                 "estimable)")
    effective_positive_patients: Optional[float] = Field(..., ge=0, title="Kish effective number of patients "
                                                                          "with ILD")
    ece: Optional[float] = Field(None, ge=0, le=1, title="Expected calibration error (ten bins)")
    sensitivity: Optional[float] = Field(None, ge=0, le=1, title="Sensitivity of the modality's finding "
                                                                   "(lung sounds: basal crackles), weighted")
    sensitivity_ci95: Optional[tuple[float, float]] = Field(None, title="Wilson 95% interval of the weighted "
                                                                        "proportion, at its effective size")
    specificity: Optional[float] = Field(None, ge=0, le=1, title="Specificity of the finding, weighted")
    specificity_ci95: Optional[tuple[float, float]] = Field(None, title="Wilson 95% interval of the weighted "
                                                                        "proportion, at its effective size")
    model_version: Optional[str] = Field(None, min_length=1, max_length=200,
                                         title="The model the region validated ('name-version'), when named; "
                                               "the figures then count only where that model serves")

    @model_validator(mode="after")
    def _consistent(self) -> "RegionalFigures":
        if self.positive_patients > self.patients:
            raise ValueError(f"positive_patients {self.positive_patients} exceeds patients {self.patients}")
        for key in ("auc", "sensitivity", "specificity"):
            point, interval = getattr(self, key), getattr(self, f"{key}_ci95")
            if (point is None) != (interval is None):
                raise ValueError(f"{key} and {key}_ci95 come together (both or neither)")
            if interval is not None and not 0 <= interval[0] <= point <= interval[1] <= 1:
                raise ValueError(f"{key}_ci95 {list(interval)} must hold the {key} {point} within [0, 1]")
        if None not in (self.effective_positive_patients, self.effective_patients) and \
                self.effective_positive_patients > self.effective_patients:
            raise ValueError(f"effective_positive_patients {self.effective_positive_patients} exceeds "
                             f"effective_patients {self.effective_patients}")
        if (self.sensitivity is None) != (self.specificity is None):
            raise ValueError("sensitivity and specificity come together (both or neither)")
        return self


class RegionalValidation(BaseModel):
    """The regional validation file."""

    model_config = ConfigDict(extra="forbid", title="Regional validation")

    kind: Literal["ildscreen.regional_validation"] = Field(..., title="What this file is")
    format: Literal[2] = Field(..., title="Format version (2: intervals weighted for verification)")
    region: str = Field(..., min_length=1, max_length=200, title="The programme region that validated")
    issued_at: dt.datetime = Field(..., title="When the hospital issued it (UTC, with offset)")
    federation_result: str = Field(..., min_length=1, max_length=300,
                                   title="The federation run's result file it was read from")
    modalities: dict[str, RegionalFigures] = Field(..., min_length=1, title="Figures per modality")

    @model_validator(mode="after")
    def _known_and_aware(self) -> "RegionalValidation":
        unknown = sorted(set(self.modalities) - set(MODALITIES))
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; expected some of {list(MODALITIES)}")
        if self.issued_at.tzinfo is None:
            raise ValueError(f"issued_at {self.issued_at.isoformat()} has no UTC offset")
        return self


def parse_document(data: bytes, *, source: str) -> RegionalValidation:
    """The checked document in ``data``; raises ``RegionalValidationError`` naming what is wrong."""
    if len(data) > MAX_FILE_BYTES:
        raise RegionalValidationError(f"{source} refused: {len(data)} bytes, a regional validation is at most "
                                      f"{MAX_FILE_BYTES}")
    try:
        declared = json.loads(data)
    except ValueError:
        declared = None  # not JSON: the model's check below names what is wrong
    if isinstance(declared, dict) and declared.get("format") == 1:
        raise RegionalValidationError(f"{source} refused: {FORMAT_1_REASON}")
    try:
        return RegionalValidation.model_validate_json(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
                             f" (got {str(error.get('input'))[:60]!r})" for error in exc.errors())
        raise RegionalValidationError(f"{source} refused: not a regional validation: {problems}") from None


def document_from_federation(result: dict, *, region: str, result_name: str,
                             model_versions: Optional[dict[str, str]] = None,
                             issued_at: Optional[dt.datetime] = None) -> dict:
    """The regional validation file's content from a federation run's result (its ``validation``:
    per target ``n``, ``events``, ``clinics``, ``auc``, ``auc_ci95``, ``ece``, ``effective_n``,
    ``effective_events``). Only the stored modalities are carried (the run's own labs model is not
    one); ``model_versions`` names the model each modality's outputs came from (``name-version``).
    Raises ``RegionalValidationError`` when the result holds no modality, an impossible figure, or
    comes from a run before the intervals were weighted (no effective counts)."""
    model_versions = model_versions or {}
    unknown = sorted(set(model_versions) - set(MODALITIES))
    if unknown:
        raise RegionalValidationError(f"model versions for unknown modalities {unknown}; expected some of "
                                      f"{list(MODALITIES)}")
    validation = result.get("validation") if isinstance(result, dict) else None
    if not isinstance(validation, dict):
        raise RegionalValidationError(f"{result_name}: not a federation result (no 'validation' object)")
    modalities = {}
    for name in MODALITIES:
        figures = validation.get(name)
        if not isinstance(figures, dict):
            continue
        if "effective_n" not in figures:
            raise RegionalValidationError(
                f"{result_name}: {name} has no effective counts: a run from before the intervals were weighted for "
                "verification, whose intervals are too narrow; run the validation round again")
        auc_ci95 = figures.get("auc_ci95")
        finding = figures.get("basal_finding") or {}
        complete = all(finding.get(key) is not None for key in ("sensitivity", "sensitivity_ci95", "specificity",
                                                                "specificity_ci95"))
        modalities[name] = {"patients": figures.get("n"), "positive_patients": figures.get("events"),
                            "clinics": figures.get("clinics"), "auc": figures.get("auc") if auc_ci95 else None,
                            "auc_ci95": auc_ci95, "ece": figures.get("ece"),
                            "effective_patients": _rounded(figures.get("effective_n")),
                            "effective_positive_patients": _rounded(figures.get("effective_events")),
                            **{key: finding[key] if complete else None for key in
                               ("sensitivity", "sensitivity_ci95", "specificity", "specificity_ci95")},
                            "model_version": model_versions.get(name)}
    document = {"kind": KIND, "format": FORMAT, "region": region,
                "issued_at": (issued_at or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
                "federation_result": result_name, "modalities": modalities}
    parse_document(json.dumps(document).encode("utf-8"), source=result_name)
    return document


def _rounded(value) -> Optional[float]:
    """An effective count to one decimal (what it is read for), None kept."""
    return None if value is None else round(float(value), 1)


@dataclasses.dataclass(frozen=True)
class SelectedRegionalValidation:
    """The regional validation this process uses (None: none), or why an installed one is not used."""

    version: Optional[str] = None
    document: Optional[RegionalValidation] = None
    error: Optional[str] = None

    def figures(self, modality: str) -> Optional[dict]:
        """One modality's figures with the region's name, or None."""
        if self.document is None or modality not in self.document.modalities:
            return None
        return {**self.document.modalities[modality].model_dump(), "region": self.document.region,
                "version": self.version}


class RegionalValidationStore(VersionFileStore):
    """The regional validation folder: ModelStore's pointer, history, lock and rollback, with a
    signed regional validation file per version."""

    file_name, default_id, noun, error = FILE_NAME, NONE_ID, "regional validation", RegionalValidationError

    def __init__(self, models_dir: Path, trusted_keys: Optional[list[str]] = None):
        super().__init__(Path(models_dir) / "regional_validation", trusted_keys)

    def active_id(self) -> str:
        try:
            return super().active_id()
        except BundleError as exc:
            raise RegionalValidationError(
                f"active regional validation pointer {self.pointer} cannot be used ({exc}): set it with "
                "'ildscreen regional-validation rollback'") from exc

    def load(self, version: str) -> Optional[RegionalValidation]:
        """The stored document of a version, checked against its id and its signature (None for none)."""
        if version == NONE_ID:
            return None
        path, data = self.read_checked(version)
        problem = detached_signature_problem(data, path.with_name(FILE_NAME + SIGNATURE_SUFFIX), self.trusted_keys,
                                             what="regional validation")
        if problem:
            raise RegionalValidationError(f"regional validation {version} is not trusted: {problem}")
        return parse_document(data, source=str(path))

    def describe(self, version: str) -> dict:
        try:
            document = self.load(version)
        except BundleError as exc:
            return {"version": version, "error": str(exc)}
        if document is None:
            return {"version": version, "region": None}
        return {"version": version, "region": document.region, "issued_at": document.issued_at.isoformat(),
                "federation_result": document.federation_result,
                "modalities": {name: figures.model_dump() for name, figures in document.modalities.items()}}

    def install(self, source: Path, *, activate: bool = True) -> dict:
        """Check the file ``source`` (its signature ``source.sig`` by a pinned key, then its
        content), store it as a new version and activate it unless ``activate`` is false.

        Returns ``{"version", "installed", "activated", "previous"}``. Raises
        ``RegionalValidationError`` with the reason; the folder is then as it was.
        """
        source = Path(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise RegionalValidationError(f"{source} cannot be read: {exc}") from exc
        if len(data) > MAX_FILE_BYTES:  # before the signature is checked over it
            parse_document(data, source=str(source))
        problem = detached_signature_problem(data, source.with_name(source.name + SIGNATURE_SUFFIX),
                                             self.trusted_keys, what="regional validation")
        if problem:
            raise RegionalValidationError(f"{source} refused: {problem}")
        document = parse_document(data, source=str(source))
        stamp = document.issued_at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        version = f"region-{stamp}_{hashlib.sha256(data).hexdigest()[:ID_HASH_DIGITS]}"
        with self._locked():
            installed = not (self.versions / version).exists()
            if installed:
                self.commit_version(version, {FILE_NAME: data, FILE_NAME + SIGNATURE_SUFFIX:
                                              source.with_name(source.name + SIGNATURE_SUFFIX).read_bytes()})
                logger.info("regional validation %s installed", version)
            previous = self._switch(version, "install") if activate else None
        return {"version": version, "installed": installed, "activated": activate and previous != version,
                "previous": previous}

    def rollback(self) -> tuple[str, Optional[str]]:
        """Return to the version the latest remaining install replaced (at the first: none)."""
        if not self._rollback_stack() and self._current_or_none() == NONE_ID:
            raise RegionalValidationError("nothing to roll back: no regional validation is active")
        return super().rollback()

    def _require_intact(self, version: str) -> None:
        self.load(version)


_selection = SelectedRegionalValidation()


def select_active_regional_validation(models_dir: Path, trusted_keys: list[str]) -> SelectedRegionalValidation:
    """Use the models folder's active regional validation in this process from now on.

    Never raises: a file that cannot be used becomes the selection's ``error`` and no regional
    validation is used (a modality then counts only by its manifest or the clinic's outcomes).
    """
    global _selection
    store = RegionalValidationStore(models_dir, trusted_keys)
    try:
        version = store.active_id()
        _selection = SelectedRegionalValidation(version if version != NONE_ID else None, store.load(version))
    except BundleError as exc:
        logger.error("regional validation not used: %s", exc)
        _selection = SelectedRegionalValidation(error=str(exc))
    return _selection


def selected_regional_validation() -> SelectedRegionalValidation:
    return _selection


def select_regional_validation(selection: SelectedRegionalValidation) -> SelectedRegionalValidation:
    """Use ``selection`` in this process from now on (tests restore what was selected)."""
    global _selection
    _selection = selection
    return selection


def regional_statuses(selection: SelectedRegionalValidation, rule, served_versions: dict[str, str]) -> list[dict]:
    """What the selected regional validation does for each modality it covers, as the evidence
    model judges it (``rule``: the clinic's :class:`~edge.fusion.evidence.ValidationRule`;
    ``served_versions``: modality -> ``name-version`` of the model this clinic serves):
    ``{"modality", "counts", "reason", "reason_code", "patients", "positive_patients", "clinics", "auc",
    "auc_ci95", "model_version"}``."""
    rows = []
    for modality in MODALITIES:
        figures = selection.figures(modality)
        if figures is None:
            continue
        status = regional_status(figures, rule, served_version=served_versions.get(modality),
                                 needs_finding=modality == "auscultation")
        rows.append({"modality": modality, "counts": status["validated"], "reason": status["reason"],
                     "reason_code": "counts" if status["validated"] else status["reason_code"],
                     **{key: figures[key] for key in ("patients", "positive_patients", "clinics", "auc", "auc_ci95",
                                                      "model_version")}})
    return rows


def served_versions(registry) -> dict[str, str]:
    """``name-version`` of each model a bundle's registry serves (None: none), as the evidence
    model stamps them."""
    if registry is None:
        return {}
    return {name: f"{entry.get('name')}-{entry.get('version')}" for name, entry in registry.manifest["models"].items()}
