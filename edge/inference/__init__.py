"""Inference backends (one file each) and the explicit registry from ``type`` to class.

Tests and deployments choose a backend by its ``type`` string; nothing is discovered
implicitly, so a backend exists exactly when it is listed here.
"""

from edge.inference.base import BackendConfig, InferenceBackend, InferenceError
from edge.inference.onnxruntime_cpu import OnnxRuntimeCpuBackend
from edge.inference.onnxruntime_tensorrt import OnnxRuntimeTensorrtBackend

BACKENDS = {
    "onnxruntime_cpu": OnnxRuntimeCpuBackend,
    "onnxruntime_tensorrt": OnnxRuntimeTensorrtBackend,
}


def create_backend(config, *, backends=None):
    """Instantiate the backend named by ``config.type`` from ``backends`` (default :data:`BACKENDS`)."""
    registry = BACKENDS if backends is None else backends
    try:
        cls = registry[config.type]
    except KeyError:
        raise InferenceError(f"unknown inference backend type {config.type!r}; known: {sorted(registry)}") from None
    return cls(config)


__all__ = ["BACKENDS", "BackendConfig", "InferenceBackend", "InferenceError", "create_backend"]
