"""Check the shipped tabular models in whatever ONNX Runtime is installed (numpy + onnxruntime only).

    python -m tabular_models.training.check_runtime

Runs each model of ``edge/bundled_models/manifest.json`` that has a golden file in
``tests/tabular_models/golden`` (1,000 held-out synthetic rows with scikit-learn's raw and
calibrated probabilities) and prints the largest differences as JSON. Used to confirm that an
older runtime (ONNX Runtime 1.22 on JetPack) gives the same numbers as the one trained with.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime

from tabular_models.calibration import apply_calibration


def check(models_dir: Path, golden_dir: Path) -> dict:
    """Largest raw and calibrated differences from scikit-learn, per model."""
    manifest = json.loads((models_dir / "manifest.json").read_text(encoding="utf-8"))["models"]
    report = {"onnxruntime": onnxruntime.__version__, "models": {}}
    for name, entry in manifest.items():
        golden_path = golden_dir / f"{name}-{entry['version']}.npz"
        if not golden_path.exists():
            continue
        golden = np.load(golden_path)
        session = onnxruntime.InferenceSession(str(models_dir / entry["file"]), providers=["CPUExecutionProvider"])
        raw = session.run(["probabilities"], {"features": golden["features"]})[0][:, 1]
        calibration = entry["calibration"]
        calibrated = apply_calibration(raw, slope=calibration["slope"], intercept=calibration["intercept"])
        report["models"][name] = {
            "rows": int(raw.size),
            "max_abs_diff_raw": float(np.max(np.abs(raw - golden["raw"]))),
            "max_abs_diff_calibrated": float(np.max(np.abs(calibrated - golden["calibrated"]))),
        }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("edge/bundled_models"))
    parser.add_argument("--golden-dir", type=Path, default=Path("tests/tabular_models/golden"))
    args = parser.parse_args(argv)
    print(json.dumps(check(args.models_dir, args.golden_dir), indent=2))


if __name__ == "__main__":
    main()
