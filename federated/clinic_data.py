"""What a clinic's ClientApp reads, and only at the clinic: its edge data folder's database, opened
read-only, and (for the labs model this federation learns) its training rows.

- ``edge-data``: the clinic's ``ildscreen`` data folder. Its labelled visits are the ones
  ``ildscreen calibrate`` uses (:func:`edge.outcome_labels.assessed_visits`, with the
  verification weights of :func:`edge.outcome_labels.verified_with_weights`); each modality's
  stored output at the visit is validated against them.
- ``dp-noise-multiplier``, ``dp-clipping-norm`` (and ``dp-delta``): the clinic adds
  differential-privacy noise to its Newton sums (:class:`federated.privacy.LocalPrivacy`).
- ``training-rows``: an ``.npz`` with the lab rows ``X``, ``y`` (and held-out ``X_test``,
  ``y_test``) the labs model is fitted on. A simulated site stores no lab panels, so the
  simulation hands these rows over in a file of its own. Without it, the rows come from the
  **stored lab panels** of the labelled visits (:meth:`ClinicData.stored_panel_rows`): each
  patient's first labelled visit with a panel, its results normalised as the clinic scored them;
  a patient is held out for validation by a fixed rule on the clinic's internal patient number
  (:data:`HELD_OUT_SHARE`), so every run splits the same way.

Both paths come from the SuperNode's ``--node-config``; nothing read here leaves the process
except the sums :mod:`federated.apps` computes from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from evaluation.binned import finding_counts
from federated.errors import FederatedError
from federated.privacy import LocalPrivacy
from tabular_models.errors import TabularInputError
from tabular_models.lab_panels import LAB_FEATURES, lab_feature_vector, normalize_panel

# The edge service's settings, store and labelled visits are imported when a clinic's edge data folder is
# read: the ClientApp is a fresh process for each federated message and most messages read no folder.

LABS_MODEL = "federated_labs_model"  # the validation target of the model a run learns, not a stored modality
HELD_OUT_SHARE = (2, 5)  # patients whose number is 0 or 1 modulo 5 (40 %) validate, as the simulation's split
EMPTY_ROWS = np.zeros((0, len(LAB_FEATURES)))


@dataclass
class ClinicData:
    """One clinic's rows; ``edge_data`` is read on first use."""

    name: str
    X_train: np.ndarray = field(default_factory=lambda: EMPTY_ROWS)
    y_train: np.ndarray = field(default_factory=lambda: np.zeros(0))
    X_test: np.ndarray = field(default_factory=lambda: EMPTY_ROWS)
    y_test: np.ndarray = field(default_factory=lambda: np.zeros(0))
    edge_data: Optional[Path] = None
    privacy: Optional[LocalPrivacy] = None  # clinic-side DP on the Newton sums (``dp-*`` node config)
    _labelled: Optional[tuple[list[dict], np.ndarray]] = None

    @classmethod
    def from_node_config(cls, node_config) -> "ClinicData":
        """The clinic named ``clinic`` with its ``training-rows`` file and ``edge-data`` folder (each optional)."""
        name = str(node_config.get("clinic", "")).strip()
        if not name:
            raise FederatedError("the SuperNode's --node-config names no clinic (clinic=\"...\")")
        try:
            privacy = LocalPrivacy.from_node_config(node_config)
        except ValueError as exc:
            raise FederatedError(f"clinic {name}: {exc}") from exc
        data = cls(name, edge_data=Path(str(node_config["edge-data"])) if node_config.get("edge-data") else None,
                   privacy=privacy)
        rows = node_config.get("training-rows")
        if rows:
            try:
                with np.load(str(rows)) as stored:
                    data.X_train, data.y_train = stored["X"], stored["y"]
                    if "X_test" in stored:
                        data.X_test, data.y_test = stored["X_test"], stored["y_test"]
            except (OSError, ValueError, KeyError) as exc:
                raise FederatedError(f"clinic {name}: cannot read training rows {rows}: {exc}") from exc
        elif data.edge_data is not None:
            data.X_train, data.y_train, data.X_test, data.y_test = data.stored_panel_rows()
        return data

    def labelled_visits(self) -> tuple[list[dict], np.ndarray]:
        """The labelled visits and their verification weights, from the database opened read-only."""
        if self._labelled is None:
            if self.edge_data is None:
                self._labelled = ([], np.zeros(0))
            else:
                import sqlite_utils

                from edge.config import load_settings
                from edge.labs import list_lab_results
                from edge.outcome_labels import assessed_visits, verified_with_weights
                from edge.store.database import read_only

                settings = load_settings(data_dir=self.edge_data)
                if not settings.database_path.exists():
                    raise FederatedError(f"clinic {self.name}: no database in {self.edge_data}")
                # Read-only: the federation can never change a clinic's records, nor leave -wal/-shm
                # files in its data folder when no service has the database open.
                with read_only(settings.database_path) as connection:
                    db = sqlite_utils.Database(connection)
                    visits = assessed_visits(db, window_months=settings.outcome_window_months)
                    labelled, weights, _ = verified_with_weights(visits)
                    for visit in labelled:
                        visit["lab_results"] = list_lab_results(db, visit["visit_id"])
                self._labelled = (labelled, weights)
        return self._labelled

    def stored_panel_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(X_train, y_train, X_test, y_test)`` from the stored lab panels of the labelled visits:
        one row per patient (the first labelled visit with a panel), SI values in ``LAB_FEATURES``
        order (NaN where not measured), split by :data:`HELD_OUT_SHARE` on the patient number.
        Empty when no labelled visit has a panel."""
        from edge.labs import stored_entries

        labelled, _ = self.labelled_visits()
        rows, labels, held_out, seen = [], [], [], set()
        for visit in labelled:
            if not visit.get("lab_results") or visit["patient_id"] in seen:
                continue
            seen.add(visit["patient_id"])
            try:
                normalized = normalize_panel(stored_entries(visit["lab_results"]))["normalized"]
            except TabularInputError as exc:  # stored rows passed this once; a failure now is a damaged store
                raise FederatedError(f"clinic {self.name}: a stored lab panel cannot be read: {exc}") from exc
            rows.append(lab_feature_vector(normalized)[0].astype(float))
            labels.append(float(visit["label"]))
            held_out.append(visit["patient_id"] % HELD_OUT_SHARE[1] < HELD_OUT_SHARE[0])
        if not rows:
            return EMPTY_ROWS, np.zeros(0), EMPTY_ROWS, np.zeros(0)
        X, y, test = np.array(rows), np.array(labels), np.array(held_out)
        return X[~test], y[~test], X[test], y[test]

    def modality_outcomes(self, modality: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outcomes, the modality's stored output and verification weights of each patient's first
        labelled visit where the modality was measured.

        One visit per patient: the region's figures are per patient, and an interval read from
        binned sums cannot resample a patient's visits together."""
        labelled, weights = self.labelled_visits()
        keep = self._first_per_patient(modality)
        return (np.array([labelled[i]["label"] for i in keep], dtype=float),
                np.array([labelled[i]["modality_probabilities"][modality] for i in keep], dtype=float),
                np.asarray(weights, dtype=float)[keep])

    def _first_per_patient(self, modality: str) -> list[int]:
        """Indices of each patient's first labelled visit where ``modality`` was measured."""
        keep, seen = [], set()
        for index, visit in enumerate(self.labelled_visits()[0]):  # assessed_visits: in the order assessed
            if modality in visit["modality_probabilities"] and visit.get("patient_id", index) not in seen:
                seen.add(visit.get("patient_id", index))
                keep.append(index)
        return keep

    def basal_finding_counts(self) -> np.ndarray:
        """The 2x2 sums (:func:`evaluation.binned.finding_counts`) of the basal crackle finding
        against the outcome, on the rows :meth:`modality_outcomes` gives lung sounds."""
        labelled, weights = self.labelled_visits()
        keep = self._first_per_patient("auscultation")
        return finding_counts(np.array([labelled[i]["label"] for i in keep], dtype=float),
                              np.array([labelled[i].get("crackle_level") == "basal" for i in keep], dtype=bool),
                              weights=np.asarray(weights, dtype=float)[keep])

    def validation_rows(self, targets: list[str]) -> int:
        """The most labelled rows of any target: SecAgg+'s weight for the validation round."""
        return max([len(self.y_test)] + [len(self.modality_outcomes(name)[0]) for name in targets
                                         if name != LABS_MODEL])
