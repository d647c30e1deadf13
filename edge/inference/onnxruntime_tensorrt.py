"""ONNX Runtime with the TensorRT execution provider (Jetson), falling back to CUDA then CPU
for any node TensorRT does not take. Refuses to start where TensorRT is not available,
rather than quietly running on the CPU under a GPU name."""

import onnxruntime as ort

from edge.inference.base import InferenceError
from edge.inference.onnxruntime_cpu import OnnxRuntimeCpuBackend


class OnnxRuntimeTensorrtBackend(OnnxRuntimeCpuBackend):
    """``onnxruntime-gpu`` session with TensorRT first in the provider list."""

    providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]

    def __init__(self, config):
        available = ort.get_available_providers()
        if "TensorrtExecutionProvider" not in available:
            raise InferenceError(f"TensorRT execution provider not available (have {available}); use type onnxruntime_cpu")
        super().__init__(config)
