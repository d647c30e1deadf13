"""ONNX Runtime with the CUDA execution provider (CPU after it for unsupported nodes)."""

from edge.inference.base import InferenceError
from edge.inference.onnxruntime_cpu import OnnxRuntimeCpuBackend, load_onnxruntime


class OnnxRuntimeCudaBackend(OnnxRuntimeCpuBackend):
    """``onnxruntime-gpu`` session on CUDA; refuses to start without the CUDA provider."""

    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def __init__(self, config):
        available = load_onnxruntime().get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise InferenceError(f"CUDA execution provider not available (have {available}); use type onnxruntime_cpu")
        super().__init__(config)
