"""The ONNX model slot: one class that loads a per-slice segmentation model and returns its mask.

Every classical step (lung mask, nodules, consolidation, ILD pattern, vertebral bodies) can be
replaced by a trained network in this form: input float32 HU of shape (1, 1, rows, columns),
output one channel of probability (> 0.5 is the structure) or C channels of class scores
(argmax > 0 is the structure), shape (1, C, rows, columns). Weights come from disk, never
from the network.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imaging_server.dicom_io import CtVolume
from imaging_server.errors import ConfigError


class OnnxMaskModel:
    """A per-slice ONNX segmentation model, loaded once; ``mask(volume)`` runs it on every slice."""

    def __init__(self, model_path: Path, *, setting: str = "onnx_model_path"):
        try:
            import onnxruntime
        except ImportError as exc:  # pragma: no cover - onnxruntime is a base dependency
            raise ConfigError(f"{setting} is set but onnxruntime is not installed") from exc
        if not Path(model_path).is_file():
            raise ConfigError(f"{setting}: no model file at {model_path}")
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        # onnxruntime's load errors derive from Exception directly; name the ones a bad file raises.
        load_errors = (RuntimeError, ValueError, ort_errors.Fail, ort_errors.InvalidProtobuf, ort_errors.InvalidGraph,
                       ort_errors.NoSuchFile, ort_errors.InvalidArgument, ort_errors.NotImplemented)
        try:
            self.session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        except load_errors as exc:
            raise ConfigError(f"{setting}: cannot load {model_path} ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.name = f"onnx:{Path(model_path).name}"

    def mask(self, volume: CtVolume) -> np.ndarray:
        """The model's boolean mask of the whole volume, slice by slice."""
        mask = np.zeros(volume.hu.shape, dtype=bool)
        for index in range(volume.hu.shape[0]):
            batch = volume.hu[index][None, None].astype(np.float32)
            (output,) = self.session.run(None, {self.input_name: batch})[:1]
            scores = np.asarray(output)[0]
            mask[index] = scores[0] > 0.5 if scores.shape[0] == 1 else scores.argmax(axis=0) > 0
        return mask
