"""ONNX export of a fitted tabular Pipeline, with a parity check against scikit-learn.

The graph takes ``features`` (float32, [N, n_features], NaN where missing) and returns
``probabilities`` (float32, [N, 2], column 1 = ILD). Opsets are pinned low enough for ONNX
Runtime 1.22 on JetPack.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxIsNaN
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from sklearn.impute import MissingIndicator
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
PARITY_TOLERANCE = 1e-5


def _missing_indicator_shape(operator) -> None:
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([rows, len(operator.raw_operator.features_)])


def _missing_indicator_converter(scope, operator, container) -> None:
    """``MissingIndicator(features="all")`` as IsNaN -> Cast(float); skl2onnx has no converter."""
    indicator = operator.raw_operator
    if indicator.features != "all" or not np.isnan(indicator.missing_values):
        raise ValueError("only MissingIndicator(features='all', missing_values=nan) is exported")
    is_missing = OnnxIsNaN(operator.inputs[0], op_version=container.target_opset)
    OnnxCast(is_missing, to=onnx.TensorProto.FLOAT, op_version=container.target_opset,
             output_names=operator.outputs[:1]).add_to(scope, container)


update_registered_converter(MissingIndicator, "SklearnMissingIndicatorAll", _missing_indicator_shape,
                            _missing_indicator_converter)
update_registered_converter(
    XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes, convert_xgboost,
    options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
)


def to_onnx(pipeline: Pipeline, *, n_features: int, name: str) -> onnx.ModelProto:
    """The pipeline as an ONNX graph with one input and the probability output renamed."""
    model = convert_sklearn(
        pipeline, name=name, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        target_opset=TARGET_OPSET, options={id(pipeline.steps[-1][1]): {"zipmap": False}},
    )
    probability = model.graph.output[1].name
    for node in model.graph.node:
        node.input[:] = [OUTPUT_NAME if name == probability else name for name in node.input]
        node.output[:] = [OUTPUT_NAME if name == probability else name for name in node.output]
    model.graph.output[1].name = OUTPUT_NAME
    # skl2onnx lists the opsets in a set's order, which follows the interpreter's string hash seed
    # (PYTHONHASHSEED 9 and 11 gave the other order here): fixed, in the shipped files' order, so that
    # the same pipeline gives the same bytes in every run.
    opsets = sorted(((opset.domain, opset.version) for opset in model.opset_import), reverse=True)
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in opsets)
    onnx.checker.check_model(model)
    return model


def onnx_probability(model_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """ILD probability from the ONNX graph on CPU."""
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: X.astype(np.float32)})[0][:, 1]


def parity(pipeline: Pipeline, model_bytes: bytes, X: np.ndarray) -> float:
    """Largest absolute difference between ONNX and scikit-learn probabilities on ``X``."""
    expected = pipeline.predict_proba(X.astype(np.float32))[:, 1]
    return float(np.max(np.abs(onnx_probability(model_bytes, X) - expected)))


def write_model(model: onnx.ModelProto, path: Path) -> str:
    """Write the graph and return its sha256."""
    data = model.SerializeToString()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()
