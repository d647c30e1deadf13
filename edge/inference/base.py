"""The inference backend interface: one small class per runtime, chosen by a ``type`` key.

A backend gets its config at construction, runs named float32 arrays through one model
and returns named arrays. Backends warm up at load (see each implementation).
"""

import dataclasses
from typing import Optional

from audio_models.errors import ModelError


class InferenceError(ModelError):
    """A backend could not load or run a model."""


@dataclasses.dataclass(frozen=True)
class BackendConfig:
    """What a backend needs: its ``type`` key, the model file, the CPU threads to use, and for
    GPU backends the folder of persistent TensorRT engine and timing caches and FP16."""

    type: str
    model_path: str
    threads: int = 1
    cache_dir: Optional[str] = None
    fp16: bool = True


class InferenceBackend:
    """Base class: ``__init__(config)``, ``run(inputs) -> outputs``, ``warmup()``."""

    def __init__(self, config):
        if config.threads < 1:
            raise InferenceError(f"threads must be >= 1, got {config.threads}")
        self.config = config

    def run(self, inputs):
        """Run the model on ``{input name: array}`` and return ``{output name: array}``."""
        raise NotImplementedError

    def warmup(self):
        """Run the model once on zeros of its input shapes."""
        raise NotImplementedError
