"""ONNX Runtime with the TensorRT execution provider (Jetson), CUDA then CPU after it for any
node TensorRT does not take. FP16 engines; engine and timing caches on a persistent folder so
that only the first start builds engines (minutes on a Jetson), later ones load them.
Refuses to start where TensorRT is not available, rather than quietly running on the CPU
under a GPU name: the caller decides on the fallback and says so."""

import os

from edge.inference.base import InferenceError
from edge.inference.onnxruntime_cpu import OnnxRuntimeCpuBackend, load_onnxruntime


class OnnxRuntimeTensorrtBackend(OnnxRuntimeCpuBackend):
    """``onnxruntime-gpu`` session with TensorRT first in the provider list."""

    providers = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]

    def __init__(self, config):
        available = load_onnxruntime().get_available_providers()
        if "TensorrtExecutionProvider" not in available:
            raise InferenceError(f"TensorRT execution provider not available (have {available}); use type onnxruntime_cpu")
        super().__init__(config)

    def provider_list(self, config):
        options = {"trt_fp16_enable": bool(config.fp16)}
        if config.cache_dir:
            os.makedirs(config.cache_dir, exist_ok=True)
            options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(config.cache_dir),
                           trt_timing_cache_enable=True, trt_timing_cache_path=str(config.cache_dir))
        return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider", "CPUExecutionProvider"]
