"""Every shipped model file runs on ONNX Runtime 1.22 (JetPack 6's build) with the same outputs.

``make test`` builds a small environment with onnxruntime 1.22.1 and points
``ORT122_PYTHON`` at it; run directly, the test needs that variable.
"""
import json
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

from edge.inference.models import BUNDLED_DIR, ModelRegistry

RUN_ALL = """
import json, sys
import numpy as np, onnxruntime as ort
assert ort.__version__.startswith("1.22"), ort.__version__
out = {}
for path in json.loads(sys.argv[1]):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {}
    for spec in session.get_inputs():
        shape = [d if isinstance(d, int) else 3 for d in spec.shape]
        feed[spec.name] = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    out[path] = {o.name: v.tolist() for o, v in zip(session.get_outputs(), session.run(None, feed))}
np.savez(sys.argv[2], payload=json.dumps(out))
print(ort.__version__)
"""


def _model_files():
    registry = ModelRegistry(BUNDLED_DIR)
    return [str(registry.directory / spec["file"]) for name in registry.manifest["models"]
            for spec in registry.variant_files(name).values()]


def test_every_bundled_model_gives_the_same_outputs_on_onnxruntime_1_22(tmp_path):
    python = os.environ.get("ORT122_PYTHON")
    if not python:
        pytest.skip("set ORT122_PYTHON to a python with onnxruntime 1.22 (make test does)")
    files = _model_files()
    assert len(files) >= 4  # auscultation fp32 + int8, labs, breath
    result = subprocess.run([python, "-c", RUN_ALL, json.dumps(files), str(tmp_path / "old.npz")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("1.22")
    old = json.loads(str(np.load(tmp_path / "old.npz")["payload"]))
    for path in files:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {}
        for spec in session.get_inputs():
            shape = [d if isinstance(d, int) else 3 for d in spec.shape]
            feed[spec.name] = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
        for spec, current in zip(session.get_outputs(), session.run(None, feed)):
            np.testing.assert_allclose(np.asarray(old[path][spec.name]), current, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{path} output {spec.name} differs on onnxruntime 1.22")
