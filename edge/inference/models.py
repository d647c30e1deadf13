"""The model registry: ``edge/bundled_models/manifest.json`` as data (name -> file, sha256,
shapes, metrics). Files are verified against their sha256 before any backend sees them;
a mismatch is an error, never a warning."""

import dataclasses
import hashlib
import json
import pathlib

from audio_models.errors import ModelError
from edge.inference import BackendConfig, create_backend, create_backend_with_fallback

BUNDLED_DIR = pathlib.Path(__file__).resolve().parents[1] / "bundled_models"


class ModelIntegrityError(ModelError):
    """A model file is missing or its sha256 differs from the manifest."""


@dataclasses.dataclass
class LoadedModel:
    """A backend ready to run plus the manifest entry and variant it came from."""

    name: str
    variant: str
    entry: dict
    backend: object

    def run(self, inputs):
        """Shortcut for ``backend.run``."""
        return self.backend.run(inputs)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelRegistry:
    """Reads a manifest folder; ``load(name)`` verifies and opens one model variant."""

    def __init__(self, directory=BUNDLED_DIR):
        self.directory = pathlib.Path(directory)
        manifest = self.directory / "manifest.json"
        try:
            self.manifest = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model manifest {manifest}: {exc}") from exc

    def entry(self, name):
        """The manifest entry of model ``name``."""
        try:
            return self.manifest["models"][name]
        except KeyError:
            raise ModelError(f"model {name!r} not in manifest; have {sorted(self.manifest.get('models', {}))}") from None

    def variant_files(self, name):
        """``{variant: {"file", "sha256"}}`` of a model: its variants, or its one file as ``default``."""
        entry = self.entry(name)
        return entry.get("variants") or {"default": {"file": entry["file"], "sha256": entry["sha256"]}}

    def verified_path(self, name, *, variant=None):
        """Path of a model variant's file after checking its sha256."""
        entry = self.entry(name)
        variant = variant or entry["default_variant"]
        try:
            spec = entry["variants"][variant]
        except KeyError:
            raise ModelError(f"model {name!r} has no variant {variant!r}; have {sorted(entry['variants'])}") from None
        path = self.directory / spec["file"]
        if not path.is_file():
            raise ModelIntegrityError(f"model file missing: {path}")
        actual = sha256_of(path)
        if actual != spec["sha256"]:
            raise ModelIntegrityError(
                f"model file {path} has sha256 {actual}, manifest says {spec['sha256']}: refusing to load it"
            )
        return path

    def load(self, name, *, variant=None, backend_type="onnxruntime_cpu", threads=1, backends=None, cache_dir=None,
             on_fallback=None):
        """Verify and open a model variant on a backend from the registry.

        With ``on_fallback`` given, a GPU backend that cannot start falls back to the CPU
        and ``on_fallback(reason)`` is told; without it, that is an error.
        """
        entry = self.entry(name)
        variant = variant or entry["default_variant"]
        path = self.verified_path(name, variant=variant)
        config = BackendConfig(type=backend_type, model_path=str(path), threads=threads,
                               cache_dir=None if cache_dir is None else str(cache_dir))
        if on_fallback is None:
            backend = create_backend(config, backends=backends)
        else:
            backend = create_backend_with_fallback(config, backends=backends, on_fallback=on_fallback)
        return LoadedModel(name=name, variant=variant, entry=entry, backend=backend)
