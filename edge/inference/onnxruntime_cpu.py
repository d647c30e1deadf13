"""ONNX Runtime on the CPU, with a configurable (default single) thread count.

ONNX Runtime is imported when a session is made, and numpy when one runs, not with this module:
the backend registry (``edge.inference``) and the manifest reader behind it are imported by every
command and by the settings, which should not pay ORT's or numpy's start-up for a ``--help``, a
settings check or ``ildscreen models list``.
"""

import functools
import logging

from edge.inference.base import InferenceBackend, InferenceError

logger = logging.getLogger(__name__)


def load_onnxruntime():
    """The ``onnxruntime`` module, imported on first use (see the module docstring)."""
    import onnxruntime

    return onnxruntime


@functools.lru_cache(maxsize=None)
def onnxruntime_errors() -> tuple:
    """What a failed ORT load or run raises: ORT's own errors (NoSuchFile, InvalidProtobuf,
    Fail, ...) derive straight from Exception, so they are listed from its pybind module;
    Python-side checks raise the built-in ones."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    return (RuntimeError, ValueError, OSError) + tuple(
        error for error in vars(ort_state).values() if isinstance(error, type) and issubclass(error, Exception))


def session_options(threads: int):
    """Options for a CPU session inside the service: ``threads`` intra-op threads that do not spin.

    The service runs requests in parallel on all cores, so a session's own thread pool only
    competes with them; ORT's default (one thread per core, spinning between runs) burned
    CPU after every tabular-model run.
    """
    ort = load_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxRuntimeCpuBackend(InferenceBackend):
    """One ``onnxruntime.InferenceSession`` on ``CPUExecutionProvider``."""

    providers = ["CPUExecutionProvider"]

    def provider_list(self, config):
        """Execution providers, with their options, in order of preference."""
        return list(self.providers)

    def __init__(self, config):
        super().__init__(config)
        options = session_options(config.threads)
        try:
            self.session = load_onnxruntime().InferenceSession(
                str(config.model_path), options, providers=self.provider_list(config))
        except onnxruntime_errors() as exc:
            raise InferenceError(f"ONNX Runtime cannot load {config.model_path}: {exc}") from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        # Warm up now: the first run allocates the arena and selects kernels, which takes
        # several times longer than a steady run and would otherwise land on the first
        # patient's recording (and on every benchmark's first sample).
        self.warmup()
        logger.info("loaded %s on %s with %s thread(s)", config.model_path, self.providers[0], config.threads)

    def run(self, inputs):
        """Run the session; arrays are passed as float32."""
        import numpy as np  # with the first run (module docstring); a dictionary look-up after it

        feed = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in self.input_names}
        try:
            outputs = self.session.run(self.output_names, feed)
        except onnxruntime_errors() as exc:
            raise InferenceError(f"ONNX Runtime failed on {self.config.model_path}: {exc}") from exc
        return dict(zip(self.output_names, outputs))

    def warmup(self):
        """One run on zeros, a batch of one for every dynamic axis."""
        import numpy as np

        feed = {}
        for spec in self.session.get_inputs():
            shape = [d if isinstance(d, int) else 1 for d in spec.shape]
            feed[spec.name] = np.zeros(shape, dtype=np.float32)
        self.run(feed)
