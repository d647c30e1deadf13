"""Lab panels of a visit: normalised to SI, stored with the original values, scored by the labs model.

Also holds the small loader for the tabular ONNX models (``BundledModel``): it takes the file
from the model registry of the served bundle (``edge.inference.bundles``), which checks its
sha256, and runs it with ONNX Runtime on the CPU (tree models use ONNX-ML operators that the
GPU backends do not run).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from pathlib import Path
from collections.abc import Collection
from typing import BinaryIO, NamedTuple, Optional

import numpy as np
import sqlite_utils

from audio_models.errors import ModelError
from edge import audit
from edge.errors import ModelUnavailable, UnitCheck, ValidationError
from edge.fusion.monitoring import add_months
from edge.inference.bundles import selected_registry
from edge.inference.models import (BUNDLED_DIR, ModelFileMissing, ModelIntegrityError, ModelRegistry, validation_status,
                                   version_label)
from edge.inference.onnxruntime_cpu import load_onnxruntime, session_options
from edge.patients import get_visit, require_open_visit
from edge.store.database import utc_now, write_transaction
from edge.vocabulary import sample_day
from tabular_models.calibration import apply_calibration
from tabular_models.errors import TabularInputError
from tabular_models.lab_catalogue import find_analyte
from tabular_models.lab_io import read_lab_panel
from tabular_models.lab_panels import LAB_FEATURES, lab_feature_vector, normalize_panel, unit_slips

logger = logging.getLogger(__name__)

BUNDLED_MODELS = BUNDLED_DIR


def input_error(exc: TabularInputError) -> ValidationError:
    """The service's 422 error for a lab or breath input error, naming the field (and the expected column the
    file lacks, ``column``, where that is the error)."""
    field = {"field": exc.field or "body", "reason": exc.message}
    if exc.missing_column:
        field["column"] = exc.missing_column
    return ValidationError(exc.message, fields=[field])


class BundledModel:
    """One tabular model from the manifest: calibrated ILD probability for feature rows."""

    def __init__(self, name: str, *, models_dir: Path = BUNDLED_MODELS):
        try:
            registry = ModelRegistry(models_dir)
            entry = registry.entry(name)
            data = registry.verified_bytes(name)
        except ModelFileMissing as exc:
            raise ModelUnavailable(f"the {name} model is not installed in {models_dir}: {exc}") from exc
        except ModelIntegrityError as exc:
            raise ModelUnavailable(f"the {name} model file does not match its manifest sha256: {exc}") from exc
        except ModelError as exc:
            raise ModelUnavailable(f"the {name} model is not installed in {models_dir}: {exc}") from exc
        self.name = name
        self.entry = entry
        self.feature_order = tuple(entry["inputs"][0]["feature_order"])
        self.session = load_onnxruntime().InferenceSession(data, session_options(threads=1),
                                                            providers=["CPUExecutionProvider"])
        # One run at load so the first patient does not wait for ORT's lazy initialisation.
        self.probability(np.full((1, len(self.feature_order)), np.nan, dtype=np.float32))

    @property
    def version_label(self) -> str:
        """``<name>-<version>``, as stored beside a score (:func:`edge.inference.models.version_label`)."""
        return version_label(self.name, self.entry["version"])

    def stamp(self) -> dict:
        """What a result says about the model behind it."""
        status = validation_status(self.entry, name=self.name)
        return {"name": self.name, "version": self.entry["version"], "synthetic": status.synthetic,
                "note": status.statement}

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated ILD probability for float32 rows in ``feature_order`` (NaN = missing)."""
        if rows.ndim != 2 or rows.shape[1] != len(self.feature_order):
            raise ModelUnavailable(f"the {self.name} model takes {len(self.feature_order)} features, "
                                   f"got rows of shape {rows.shape}")
        raw = self.session.run(["probabilities"], {"features": rows.astype(np.float32)})[0][:, 1]
        calibration = self.entry["calibration"]
        return apply_calibration(raw, slope=calibration["slope"], intercept=calibration["intercept"])


def bundled_model(name: str, models_dir: Optional[Path] = None) -> BundledModel:
    """The loaded model from ``models_dir`` (default: the bundle this process serves), once per
    process and folder."""
    if models_dir is None:
        try:
            models_dir = selected_registry().directory
        except ModelError as exc:
            raise ModelUnavailable(f"the {name} model is not available: {exc}") from exc
    return _loaded_model(name, Path(models_dir))


@functools.lru_cache(maxsize=8)
def _loaded_model(name: str, models_dir: Path) -> BundledModel:
    return BundledModel(name, models_dir=models_dir)


def score_lab_panel(entries: list[dict], *, model: Optional[BundledModel] = None) -> dict:
    """Normalise a panel and score it: ``{"probability", "normalized", "missing", "warnings", "model", ...}``.

    Raises
    ------
    ValidationError
        Naming the analyte when the panel holds an unknown, unreadable or impossible entry.
    ModelUnavailable
        When the labs model cannot be loaded.
    """
    try:
        panel = normalize_panel(entries)
    except TabularInputError as exc:
        raise input_error(exc) from exc
    model = model or bundled_model("labs")
    if model.feature_order != LAB_FEATURES:
        raise ModelUnavailable("the installed labs model expects other features than this software computes")
    probability = float(model.probability(lab_feature_vector(panel["normalized"]))[0])
    return {"probability": probability, "normalized": panel["normalized"], "missing": panel["missing"],
            "warnings": panel["warnings"], "model": model.stamp(), "records": panel["records"]}


def _public(row: dict) -> dict:
    row.pop("created_by", None)
    return row


def list_lab_results(db: sqlite_utils.Database, visit_id: int) -> list[dict]:
    rows = db.execute_returning_dicts("SELECT * FROM lab_results WHERE visit_id = ? ORDER BY id", [visit_id])
    return [_public(row) for row in rows]


def newest_of_each_analyte(rows: list[dict]) -> list[dict]:
    """Of a visit's lab rows, oldest first (:func:`list_lab_results`), the newest of each analyte: the
    value its panel scores (tabular_models.lab_panels.normalize_panel keeps the last one reported), so
    an earlier one, entered again later (a correction), is never shown or sent as if it counted."""
    newest = {row["analyte"]: row for row in rows}
    return [row for row in rows if newest[row["analyte"]] is row]


def visit_lab_panel(db: sqlite_utils.Database, visit_id: int) -> dict:
    """Every stored result of a visit and the score of all of them together (newest value wins).

    Without a usable labs model the results are still listed: ``score`` is None and
    ``score_unavailable`` says why (they are scored once the model is back).
    """
    get_visit(db, visit_id)
    results = list_lab_results(db, visit_id)
    panel = {"results": results, "score": None, "score_unavailable": None}
    if results:
        try:
            panel["score"] = score_stored_results(results)
        except ModelUnavailable as exc:
            logger.warning("lab results of a visit kept unscored: %s", exc)
            panel["score_unavailable"] = exc.message
    return panel


def stored_entries(results: list[dict]) -> list[dict]:
    """Stored lab rows as panel entries (their SI value and unit), as :func:`normalize_panel` reads them."""
    return [{"analyte": row["loinc"] or row["analyte"], "value": row["si_value"], "unit": row["si_unit"]}
            for row in results]


def panel_lymphocytes(normalized: dict) -> Optional[float]:
    """The absolute lymphocyte count (10^9/L) of a normalised panel (``normalize_panel``'s
    ``normalized``: newest value wins, a differential percentage turned into a count), or None."""
    value = normalized.get("lymphocytes")
    return None if value is None or math.isnan(value) else float(value)


def visit_lymphocytes(results: list[dict]) -> Optional[float]:
    """The lymphocyte count (10^9/L) on a visit's stored lab rows, or None: what triage reads
    lymphopenia from (``edge.fusion.triage.recorded_findings``). Needs no model: stored rows were
    validated (plausible range, unit) when entered."""
    if not results:
        return None
    try:
        return panel_lymphocytes(normalize_panel(stored_entries(results))["normalized"])
    except TabularInputError as exc:
        raise input_error(exc) from exc


def recent_lymphocytes(db: sqlite_utils.Database, visit: dict, *, months: int) -> tuple[Optional[float], Optional[str]]:
    """The lymphocyte count (10^9/L) triage reads lymphopenia from, and the date of its visit: this
    visit's count (date None); without one, the newest count of the patient's earlier visits (not
    cancelled) started within ``months`` before this one (the setting
    ``triage_lymphopenia_lookback_months``; 0: this visit's only). Only the newest count is read, so a
    normal count after a low one ends the lymphopenia. ``(None, None)`` when there is none."""
    count = visit_lymphocytes(list_lab_results(db, visit["id"]))
    if count is not None or months == 0:
        return count, None
    day = dt.date.fromisoformat(visit["started_at"][:10])
    earlier = db.execute_returning_dicts(
        "SELECT id, started_at FROM visits WHERE patient_id = ? AND id != ? AND status != 'cancelled' "
        "AND started_at < ? AND started_at >= ? ORDER BY started_at DESC, id DESC",
        [visit["patient_id"], visit["id"], visit["started_at"], add_months(day, -months).isoformat()])
    for row in earlier:
        count = visit_lymphocytes(list_lab_results(db, row["id"]))
        if count is not None:
            return count, row["started_at"][:10]
    return None, None


def score_stored_results(results: list[dict]) -> dict:
    """Score stored lab rows (SI values); ``ModelUnavailable`` without a usable labs model."""
    return {key: value for key, value in score_lab_panel(stored_entries(results)).items() if key != "records"}


#: How a result that looks like a unit slip is confirmed, by the way it came in.
CONFIRM_IN_ENTRY = "send the result again with confirm_unusual: true"


def confirm_by_name(analytes: list[str]) -> str:
    """How an imported file or FHIR Bundle confirms the slips it was refused for."""
    return f"send it again with confirm_unusual={','.join(analytes)}"


def confirmed_analyte_keys(text: Optional[str]) -> frozenset[str]:
    """The analytes an import confirms as unusual (``confirm_unusual``: names or LOINC codes,
    comma-separated, as a unit_check answer names them), as catalogue keys.

    Raises
    ------
    ValidationError
        Naming ``confirm_unusual`` and the name when one is not a known analyte.
    """
    keys = set()
    for name in filter(None, (part.strip() for part in (text or "").split(","))):
        analyte = find_analyte(name)
        if analyte is None:
            raise ValidationError(f"confirm_unusual: {name!r} is not a known analyte",
                                  fields=[{"field": "confirm_unusual", "reason": f"unknown analyte {name!r}"}])
        keys.add(analyte.key)
    return frozenset(keys)


# Programme assumption (a setting could carry it): a sample is drawn on or before the day of its visit. That
# day is the visit's started_at in UTC, and a sample time is written in the lab's own zone (a date alone in
# the clinic's): a clinic east of UTC writes the next day for a visit started before midnight UTC, so one
# day more is allowed. A later day is a typing slip (2099 for 2009) or another visit's sample.
SAMPLE_DAYS_AFTER_VISIT = 1
#: Why a result's collected_at is refused (its error's ``reason``; the tablet words each, edge.web.visit_views).
NOT_A_SAMPLE_TIME = "not an ISO 8601 date or date-time (FHIR dateTime)"
SAMPLE_AFTER_VISIT = f"after the visit's date (more than {SAMPLE_DAYS_AFTER_VISIT} day later)"


def check_collected_at(visit: dict, records: list[dict], *, field: str = "collected_at") -> None:
    """Refuse a result whose ``collected_at`` (when given) is not a FHIR dateTime
    (:func:`edge.vocabulary.sample_day`) or is after the visit's date (:data:`SAMPLE_DAYS_AFTER_VISIT`).

    ``field`` is where the caller's input holds it, ``{index}`` standing for the result's position.
    Rows stored before this check keep their text as it was: only what comes in is checked.

    Raises
    ------
    ValidationError
        Naming the field, the analyte, the value and its problem.
    """
    latest = dt.date.fromisoformat(visit["started_at"][:10]) + dt.timedelta(days=SAMPLE_DAYS_AFTER_VISIT)
    for index, record in enumerate(records):
        text = record["collected_at"]
        if text is None:
            continue
        try:
            day, reason = sample_day(text), None
        except ValueError as exc:
            day, reason, problem = None, NOT_A_SAMPLE_TIME, str(exc)
        if day is not None and day > latest:
            reason = SAMPLE_AFTER_VISIT
            problem = f"{text!r} is after the visit's date {visit['started_at'][:10]} (at most {latest} is taken)"
        if reason:
            name = field.format(index=index)
            raise ValidationError(f"{name} of {record['analyte']}: {problem}", fields=[{"field": name, "reason": reason}])


def record_of(entry: dict) -> Optional[dict]:
    """The entry as it would be stored (``normalize_panel``'s record: analyte key, value, unit, collected_at),
    or None when it is refused."""
    try:
        return normalize_panel([entry])["records"][0]
    except TabularInputError:
        return None


def not_yet_stored(db: sqlite_utils.Database, visit_id: int, entries: list[dict]) -> list[dict]:
    """The entries that differ from the visit's latest stored result of their analyte (value and unit as
    entered, and collected_at): what would change the visit's results (:func:`newest_of_each_analyte`).
    An entry that :func:`normalize_panel` refuses is kept, so that whoever stores them refuses it, naming it.

    The one rule for a panel sent again (a double tap, a client's or LIS's retry after a timeout): none of
    its entries is new, so nothing is stored (:func:`add_lab_panel`, the tablet's form)."""
    latest = _latest_results(db, visit_id)
    return [entry for entry in entries if (record := record_of(entry)) is None or _is_new(record, latest)]


def _latest_results(db: sqlite_utils.Database, visit_id: int) -> dict:
    """The visit's latest stored result of each analyte, as :func:`_is_new` compares a record with it."""
    return {row["analyte"]: (row["value"], row["unit"], row["collected_at"]) for row in list_lab_results(db, visit_id)}


def _is_new(record: dict, latest: dict) -> bool:
    """Whether ``record`` (``normalize_panel``'s) differs from the visit's latest result of its analyte
    (:func:`_latest_results`): value and unit as entered, and collected_at."""
    return latest.get(record["analyte"]) != (record["value"], record["unit"], record["collected_at"])


class AddedLabPanel(NamedTuple):
    """What :func:`add_lab_panel` did: the visit's lab panel, and whether this call stored the results
    (False when every one was already the visit's latest result of its analyte: nothing was stored)."""

    panel: dict
    created: bool


def add_lab_panel(db: sqlite_utils.Database, actor: audit.Actor, visit_id: int, entries: list[dict], *,
                  unit_check_factor: float, confirmed_analytes: Optional[Collection[str]] = None,
                  date_field: str = "collected_at") -> AddedLabPanel:
    """Validate and store a panel for an open visit; nothing is stored if any entry fails.

    Validation needs no model, so a panel is kept even while the labs model is unavailable
    (the nurse does not type it again); the response then says why it is not scored.

    Every way results come in passes here, so every way is checked: ``collected_at``
    (:func:`check_collected_at`, ``date_field`` naming where the caller's input holds it), and a
    result that looks like a unit slip (:func:`tabular_models.lab_panels.unit_slip`, ``unit_check_factor`` being the
    ``lab_unit_check_factor`` setting) refuses the whole panel with ``UnitCheck`` unless it is
    confirmed: by its entry's ``confirm_unusual: True`` (results sent one by one: the lab API, the
    tablet form) or, for an imported file or FHIR Bundle, by naming its analyte (catalogue key) in
    ``confirmed_analytes``; the refusal says how (``None``: by entry). A confirmed slip is stored
    with ``confirmed_unusual = 1``, and the audit entry names the analytes confirmed so (keys only,
    never values).

    Idempotent as a recording's take is (:func:`edge.recordings.add_recording`): a panel whose every
    result is already the visit's latest of its analyte (:func:`not_yet_stored`: the same panel sent
    again) stores nothing (no row, no audit entry) and returns the panel with ``created`` False. A panel
    that differs in any result is stored whole, as a new entry.
    """
    with write_transaction(db):  # the repeat check and the insert under one write lock: a twin retry waits
        visit = require_open_visit(db, visit_id)
        try:
            records = normalize_panel(entries)["records"]
        except TabularInputError as exc:
            raise input_error(exc) from exc
        check_collected_at(visit, records, field=date_field)
        latest = _latest_results(db, visit_id)  # not_yet_stored's rule, on the records already normalised
        if not any(_is_new(record, latest) for record in records):
            return AddedLabPanel(visit_lab_panel(db, visit_id), created=False)
        by_name = frozenset(confirmed_analytes or ())
        # normalize_panel keeps the entries' order: record i is entry i.
        slipped = [bool(unit_slips([record], far_factor=unit_check_factor)) for record in records]
        confirmed = [slip and (entry.get("confirm_unusual") is True or record["analyte"] in by_name)
                     for entry, record, slip in zip(entries, records, slipped)]
        refused = [r for r, slip, ok in zip(records, slipped, confirmed) if slip and not ok]
        if refused:
            slips = unit_slips(refused, far_factor=unit_check_factor)
            how = CONFIRM_IN_ENTRY if confirmed_analytes is None else confirm_by_name(
                list(dict.fromkeys(slip["analyte"] for slip in slips)))
            raise UnitCheck("; ".join(slip["message"] for slip in slips) + f"; if value and unit are right, {how}",
                            findings=slips)
        now = utc_now()
        for record, sure in zip(records, confirmed):
            db["lab_results"].insert({
                "visit_id": visit_id, "loinc": record["loinc"], "analyte": record["analyte"],
                "value": record["value"], "unit": record["unit"], "si_value": record["si_value"],
                "si_unit": record["si_unit"], "collected_at": record["collected_at"],
                "created_at": now, "created_by": actor.user_id, "confirmed_unusual": int(sure),
            })
        named = list(dict.fromkeys(r["analyte"] for r, sure in zip(records, confirmed) if sure))
        audit.record(db, actor, "add_labs", "visit", visit_id,
                     {"results": len(records), **({"confirmed_unusual": named} if named else {})})
    logger.info("stored %s lab results for visit %s", len(records), visit_id)
    return AddedLabPanel(visit_lab_panel(db, visit_id), created=True)


MAX_LAB_FILE_BYTES = 1024 * 1024
#: Where a lab file holds a result's collected_at, as its errors name it: the CSV's ``date`` column (or ``collected_at``).
FILE_DATE_FIELD = "date"


def read_lab_file(stream: BinaryIO) -> list[dict]:
    """Entries of an uploaded lab file (CSV, JSON or FHIR R4 Bundle), or a ``ValidationError``."""
    data = stream.read(MAX_LAB_FILE_BYTES + 1)
    if len(data) > MAX_LAB_FILE_BYTES:
        raise ValidationError(f"lab files are limited to {MAX_LAB_FILE_BYTES} bytes",
                              fields=[{"field": "file", "reason": "too large"}])
    try:
        return read_lab_panel(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ValidationError("lab file is not UTF-8 text", fields=[{"field": "file", "reason": "not UTF-8"}]) from exc
    except TabularInputError as exc:
        raise input_error(exc) from exc
