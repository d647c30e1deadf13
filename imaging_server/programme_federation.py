"""The programme view's federated-learning section: the newest result the federation's ServerApp
wrote (``federated/apps.py``, run config ``result-path``) in the folder the setting
``programme_federation_dir`` names: its rounds (and any clinic that went missing) and the
region's validation of each target (AUC with its 95% interval, ECE, counts and clinics from secure sums,
no row). ``ildscreen federated publish-validation`` turns such a result into the signed file the
clinics install (:mod:`edge.regional_validation`).

The file is read at the boundary: anything that is not such a result is shown as an error naming
the file, never a traceback.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Optional

MAX_RESULT_BYTES = 2 * 1024 * 1024  # a result holds a few kilobytes; refuse anything far larger


def _number(value) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _interval(value) -> Optional[list[float]]:
    """A ``[low, high]`` pair of numbers, or None (older results carry no interval)."""
    if isinstance(value, list) and len(value) == 2 and all(_number(item) is not None for item in value):
        return [float(item) for item in value]
    return None


def _read(path: Path) -> dict:
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise ValueError(f"larger than {MAX_RESULT_BYTES} bytes")
    result = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(result, dict) or not isinstance(result.get("rounds"), list) \
            or not isinstance(result.get("validation"), dict):
        raise ValueError("not a federation result (no 'rounds' list and 'validation' object)")
    rounds = [{"round": int(item["round"]), "stage": str(item["stage"]), "completed": bool(item.get("completed")),
               "clinics": item.get("clinics"), "missing_clinics": [str(name) for name in item.get("missing_clinics", [])],
               "wall_s": _number(item.get("wall_s"))} for item in result["rounds"] if isinstance(item, dict)]
    validation = {str(target): {**{key: _number((figures or {}).get(key)) for key in ("n", "events", "clinics", "auc",
                                                                                     "ece")},
                                "auc_ci95": _interval((figures or {}).get("auc_ci95"))}
                  for target, figures in result["validation"].items()}
    return {"clinics": [str(name) for name in result.get("clinics", [])],
            "missing_clinics": [str(name) for name in result.get("missing_clinics", [])],
            "rounds": rounds, "validation": validation}


def latest_federation(folder: Optional[Path]) -> Optional[dict]:
    """The newest ``*.json`` result in ``folder`` (None when no folder is set or none is there),
    with ``file`` and ``finished_at``; ``error`` instead of the figures when it cannot be read."""
    if folder is None:
        return None
    try:
        files = sorted(Path(folder).glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    except OSError:
        files = []
    if not files:
        return None
    newest = files[0]
    summary = {"file": newest.name,
               "finished_at": dt.datetime.fromtimestamp(newest.stat().st_mtime, dt.timezone.utc).isoformat(
                   timespec="seconds")}
    try:
        return {**summary, **_read(newest)}
    except (OSError, ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        return {**summary, "error": f"{newest.name}: {exc}"}
