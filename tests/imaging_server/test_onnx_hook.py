"""The optional ONNX lung model replaces the classical mask when configured (a tiny model built here)."""
from __future__ import annotations

import numpy as np
import pytest

from imaging_server.dicom_io import CtVolume
from imaging_server.errors import ConfigError
from imaging_server.phantom import make_phantom
from imaging_server.quantify import quantify_volume
from imaging_server.segmentation import ClassicalLungSegmenter, OnnxLungSegmenter, segmenter_from_settings


@pytest.fixture
def threshold_model(tmp_path):
    """A one-channel 'model': lung probability 1 where -950 < HU < -400 (no body removal, on purpose)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Less", ["hu", "upper"], ["below"]),
         helper.make_node("Greater", ["hu", "lower"], ["above"]),
         helper.make_node("And", ["below", "above"], ["lung"]),
         helper.make_node("Cast", ["lung"], ["probability"], to=TensorProto.FLOAT)],
        "threshold",
        [helper.make_tensor_value_info("hu", TensorProto.FLOAT, [1, 1, None, None])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [1, 1, None, None])],
        initializer=[helper.make_tensor("upper", TensorProto.FLOAT, [], [-400.0]),
                     helper.make_tensor("lower", TensorProto.FLOAT, [], [-950.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "lung.onnx"
    onnx.save(model, path)
    return path


def test_configured_model_replaces_the_classical_mask(threshold_model):
    phantom = make_phantom(shape=(20, 48, 48), emphysema=False)
    volume = CtVolume(hu=phantom.hu, spacing_mm=phantom.spacing_mm)
    segmenter = segmenter_from_settings(threshold_model)
    assert isinstance(segmenter, OnnxLungSegmenter)
    mask = segmenter.segment(volume)
    assert np.array_equal(mask, (phantom.hu < -400) & (phantom.hu > -950))
    result = quantify_volume(volume, segmenter=segmenter)
    assert result.segmenter == "onnx:lung.onnx"
    assert result.metrics["lung_volume_ml"] == pytest.approx(mask.sum() * volume.voxel_volume_ml, abs=0.1)


def test_no_model_means_the_classical_mask():
    assert isinstance(segmenter_from_settings(None), ClassicalLungSegmenter)


def test_missing_or_broken_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no model file"):
        OnnxLungSegmenter(tmp_path / "absent.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot load"):
        OnnxLungSegmenter(broken)
