"""Inference backends (one file each) and the explicit registry from ``type`` to class.

Tests and deployments choose a backend by its ``type`` string; nothing is discovered
implicitly, so a backend exists exactly when it is listed here.
"""

import dataclasses

from edge.inference.base import BackendConfig, InferenceBackend, InferenceError
from edge.inference.onnxruntime_cpu import OnnxRuntimeCpuBackend
from edge.inference.onnxruntime_cuda import OnnxRuntimeCudaBackend
from edge.inference.onnxruntime_tensorrt import OnnxRuntimeTensorrtBackend

BACKENDS = {
    "onnxruntime_cpu": OnnxRuntimeCpuBackend,
    "onnxruntime_cuda": OnnxRuntimeCudaBackend,
    "onnxruntime_tensorrt": OnnxRuntimeTensorrtBackend,
}
FALLBACK_TYPE = "onnxruntime_cpu"


def create_backend(config, *, backends=None):
    """Instantiate the backend named by ``config.type`` from ``backends`` (default :data:`BACKENDS`)."""
    registry = BACKENDS if backends is None else backends
    try:
        cls = registry[config.type]
    except KeyError:
        raise InferenceError(f"unknown inference backend type {config.type!r}; known: {sorted(registry)}") from None
    return cls(config)


def create_backend_with_fallback(config, *, backends=None, on_fallback=None):
    """``create_backend``, falling back to the CPU when the configured GPU backend cannot start.

    ``on_fallback(reason)`` is called when that happens, so the service can warn and report
    it; a model that fails on the CPU too is an error.
    """
    try:
        return create_backend(config, backends=backends)
    except InferenceError as exc:
        if config.type == FALLBACK_TYPE:
            raise
        reason = f"{config.type} unavailable ({exc}); running {config.model_path} on the CPU"
        if on_fallback is not None:
            on_fallback(reason)
        return create_backend(dataclasses.replace(config, type=FALLBACK_TYPE), backends=backends)


__all__ = ["BACKENDS", "BackendConfig", "InferenceBackend", "InferenceError", "create_backend",
           "create_backend_with_fallback"]
