"""Inference backends and the model registry (edge/inference): explicit registry, fakes
swap in without hardware, and a model whose sha256 differs is refused."""

import json
import shutil

import numpy as np
import pytest

from audio_models.errors import ModelError

from edge.inference import BACKENDS, BackendConfig, InferenceBackend, InferenceError, create_backend
from edge.inference.models import BUNDLED_DIR, ModelIntegrityError, ModelRegistry
from edge.inference.onnxruntime_cpu import OnnxRuntimeCpuBackend
from support import packages_loaded_after


class FakeBackend(InferenceBackend):
    """Returns a constant crackle probability; records that it was warmed up."""

    def __init__(self, config):
        super().__init__(config)
        self.warmed = False
        self.warmup()

    def run(self, inputs):
        n = len(inputs["pcm"])
        return {"crackle_probability": np.full(n, 0.75, np.float32), "frame_probability": np.full((n, 125), 0.5, np.float32)}

    def warmup(self):
        self.warmed = True


def test_registry_is_an_explicit_dict():
    assert BACKENDS["onnxruntime_cpu"] is OnnxRuntimeCpuBackend
    assert "onnxruntime_tensorrt" in BACKENDS


def test_unknown_backend_type_is_a_clear_error():
    with pytest.raises(InferenceError, match="unknown inference backend type 'openvino'"):
        create_backend(BackendConfig(type="openvino", model_path="x.onnx"))


def test_backend_choice_uses_the_given_registry():
    loaded = ModelRegistry().load("auscultation", backend_type="fake", backends={"fake": FakeBackend})
    assert isinstance(loaded.backend, FakeBackend) and loaded.backend.warmed
    assert loaded.run({"pcm": np.zeros((2, 16000))})["crackle_probability"].tolist() == [0.75, 0.75]


def test_ort_cpu_backend_runs_single_threaded():
    loaded = ModelRegistry().load("auscultation", threads=1)
    assert loaded.backend.session.get_session_options().intra_op_num_threads == 1
    out = loaded.run({"pcm": np.zeros((3, 16000), np.float32)})
    assert out["crackle_probability"].shape == (3,) and out["frame_probability"].shape == (3, 125)


def test_bad_thread_count_is_rejected():
    with pytest.raises(InferenceError, match="threads must be >= 1, got 0"):
        OnnxRuntimeCpuBackend(BackendConfig(type="onnxruntime_cpu", model_path="x.onnx", threads=0))


def test_tensorrt_backend_refuses_without_tensorrt():
    import onnxruntime

    if "TensorrtExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("TensorRT is available here")
    with pytest.raises(InferenceError, match="TensorRT execution provider not available"):
        create_backend(BackendConfig(type="onnxruntime_tensorrt", model_path="x.onnx"))


@pytest.fixture
def bundle_copy(tmp_path):
    for path in BUNDLED_DIR.glob("*"):
        if path.suffix in (".onnx", ".json"):
            shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_tampered_model_is_refused(bundle_copy):
    target = bundle_copy / "auscultation_fp32.onnx"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="auscultation_fp32.onnx has sha256 .* manifest says .*refusing to load it"):
        ModelRegistry(bundle_copy).load("auscultation", variant="fp32")


def test_missing_model_file_is_refused(bundle_copy):
    (bundle_copy / "auscultation_int8.onnx").unlink()
    with pytest.raises(ModelIntegrityError, match="model file missing: .*auscultation_int8.onnx"):
        ModelRegistry(bundle_copy).load("auscultation", variant="int8")


def test_unknown_model_and_variant_are_clear_errors(bundle_copy):
    registry = ModelRegistry(bundle_copy)
    with pytest.raises(ModelError, match="model 'xray' not in manifest; have \\['auscultation', 'breath', 'labs'\\]"):
        registry.entry("xray")
    with pytest.raises(ModelError, match="has no variant 'fp16'"):
        registry.verified_path("auscultation", variant="fp16")


def test_manifest_keeps_other_models(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["models"]["spirometry"] = {"name": "spirometry"}
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    from audio_models.export import write_manifest

    write_manifest(bundle_copy, manifest["models"]["auscultation"])
    assert set(json.loads((bundle_copy / "manifest.json").read_text())["models"]) == {
        "auscultation", "breath", "labs", "spirometry"}


def test_serving_modules_do_not_import_torch_or_sklearn():
    assert packages_loaded_after(
        "edge.app", "edge.auscultation", "edge.commands.audio", "edge.commands.bench", "edge.inference.models",
        "audio_models.io", "audio_models.quality", "audio_models.windows", "audio_models.aggregation",
        "audio_models.datasets.icbhi", packages=("torch", "sklearn", "xgboost", "librosa", "scipy")) == []
