"""Simulated clinics for the programme view: each a real edge data folder filled by
``edge.simulation.simulate_site``, whose figures are built by the clinic's own code."""
from __future__ import annotations

import copy
from pathlib import Path

from edge.config import load_settings
from edge.programme import programme_figures
from edge.service import prepare_data_folder
from edge.simulation import simulate_site


def simulated_figures(folder: Path, *, seed: int, n_patients: int = 120, min_cell: int = 5) -> dict:
    """The figures payload (sequence 1) of a freshly simulated clinic in ``folder``."""
    settings = load_settings(data_dir=folder)
    data, _ = prepare_data_folder(settings)
    db = data.connect()
    try:
        simulate_site(db, site_secret=data.site_secret, n_patients=n_patients, seed=seed,
                      thresholds=settings.triage_thresholds, window_months=settings.outcome_window_months)
        payload = programme_figures(db, window_months=settings.outcome_window_months, psi_alert=settings.psi_alert,
                                    min_cell=min_cell)
    finally:
        db.close()
    return {**payload, "sequence": 1}


def changed(payload: dict, **changes) -> dict:
    """A deep copy of ``payload`` with dotted paths set, e.g. ``changed(p, **{"counts.referred": 3})``."""
    result = copy.deepcopy(payload)
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return result
