"""The crackle model as shipped: DFT-conv front end equals an STFT, size limits, and the
bundled ONNX files match their manifest and PyTorch."""

import json
import pathlib

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="model tests need the training extra (torch)")
onnx = pytest.importorskip("onnx", reason="model tests need the training extra (onnx)")

from audio_models import synthetic  # noqa: E402
from common.hashing import sha256_file  # noqa: E402
from audio_models.model import HOP, N_FFT, CrackleNet, LogMelFrontEnd, count_parameters, mel_filterbank  # noqa: E402

BUNDLE = pathlib.Path(__file__).resolve().parents[2] / "edge" / "bundled_models"
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text())
ENTRY = MANIFEST["models"]["auscultation"]


def _windows(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([synthetic.synthesize(rng, duration_s=4.0).samples for _ in range(n)])


def _trained():
    net = CrackleNet()
    net.load_state_dict(torch.load(BUNDLE / ENTRY["torch_weights"]["file"], weights_only=True))
    return net.eval()


def test_front_end_equals_a_numpy_stft_log_mel():
    x = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    with torch.no_grad():
        ours = LogMelFrontEnd()(torch.from_numpy(x)).numpy()[:, 0]
    xn = x - x.mean(axis=1, keepdims=True)
    xn = xn / (np.sqrt((xn**2).mean(axis=1, keepdims=True)) + 1e-4)
    padded = np.pad(xn, ((0, 0), (48, 48)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)[:, ::HOP]
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT + 1)[:-1], axis=2)) ** 2
    logmel = np.log(np.einsum("mk,btk->bmt", mel_filterbank(), power) + 1e-6)
    expected = logmel - logmel.mean(axis=2, keepdims=True)
    assert ours.shape == (2, 32, 500)
    np.testing.assert_allclose(ours, expected, atol=2e-3)


def test_model_is_compact_and_gives_window_frame_and_quality_outputs():
    net = CrackleNet().eval()
    assert count_parameters(net) <= 2_000_000  # the Jetson budget (issue 24)
    with torch.no_grad():
        window, frames, quality = net(torch.zeros(3, 16000))
    assert window.shape == (3,) and frames.shape == (3, 125) and quality.shape == (3,)


def test_manifest_names_its_real_training_data_and_each_population_it_was_validated_on():
    for key in ("name", "version", "variants", "inputs", "outputs", "sample_rate", "window_s", "hop_s", "threshold",
                "calibration", "quality_head", "validation", "training_data", "metrics", "created"):
        assert key in ENTRY, key
    training = ENTRY["training_data"]
    assert training["synthetic"] is False and "children" in training["population"] and "adults" in training["population"]
    assert any("Zhang" in citation for citation in training["datasets"].values())
    assert any("Fraiwan" in citation for citation in training["datasets"].values())
    assert set(training["parts"]) == {"train", "validation", "test"}
    assert set(training["split"]["test_patients_sha256"]) == {"adults", "children_sprsound2022", "children_sprsound2022_test"}
    status = ENTRY["validation_status"]
    assert status["synthetic"] is False and status["clinically_validated"] is False
    adults = ENTRY["validation"]["populations"]["adults"]
    # The statement every result shows names the adult figures and what they do not cover.
    assert f"{adults['patients']} held-out adults" in status["statement"]
    assert "not validated in people with ILD" in status["statement"]
    assert "validation patients" in ENTRY["calibration"]["fitted_on"]
    assert set(ENTRY["variants"]) == {"fp32", "int8"}
    assert ENTRY["sample_rate"] == 4000 and ENTRY["inputs"][0]["shape"] == ["batch", 16000]


def test_int8_keeps_the_window_pooling_in_fp32():
    """Quantised, the pooling divided 0 by a quantised-away epsilon (NaN) on a window every frame of
    which was clear: nothing downstream of the frame map may be quantised."""
    from audio_models.export import pooling_nodes

    path = BUNDLE / ENTRY["variants"]["int8"]["file"]
    proto = onnx.load(str(path))
    dequantized = {out for node in proto.graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    pooling = [node for node in proto.graph.node if node.name in set(pooling_nodes(path))]
    assert len(pooling) == 5  # x*x, two sums, + epsilon, division
    # The frame map itself is the graph's output; nothing computed from it is re-quantised.
    assert not [name for node in pooling for name in node.input if name in dequantized and name != "frame_probability"]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_bundled_onnx_matches_manifest_and_loads_on_old_runtimes(variant):
    spec = ENTRY["variants"][variant]
    path = BUNDLE / spec["file"]
    assert sha256_file(path) == spec["sha256"]
    assert path.stat().st_size < 5 * 1024 * 1024
    proto = onnx.load(str(path))
    assert proto.ir_version <= 10  # ONNX Runtime 1.22 reads IR <= 10
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) <= 21
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"STFT", "DFT", "MelWeightMatrix"}  # TensorRT has none of these


def test_onnx_fp32_matches_pytorch_and_int8_stays_close():
    x = _windows(16, seed=11)
    with torch.no_grad():
        ref_window, ref_frames, _ = (t.numpy() for t in _trained()(torch.from_numpy(x)))
    outs = {}
    for variant in ("fp32", "int8"):
        session = ort.InferenceSession(str(BUNDLE / ENTRY["variants"][variant]["file"]), providers=["CPUExecutionProvider"])
        outs[variant] = session.run(None, {"pcm": x})
    assert np.abs(outs["fp32"][0] - ref_window).max() < 1e-4
    assert np.abs(outs["fp32"][1] - ref_frames).max() < 1e-4
    assert np.abs(outs["int8"][0] - ref_window).max() < 0.1
