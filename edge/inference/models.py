"""The model registry: a bundle folder's ``manifest.json`` as data (name -> file, sha256,
shapes, metrics). Files are verified against their sha256 before any backend sees them;
a mismatch is an error, never a warning.

The folder is ``edge/bundled_models/`` or an installed bundle (``edge.inference.bundles``)."""

import dataclasses
import hashlib
import json
import pathlib
from typing import Optional

from audio_models.errors import ModelError
from common.hashing import json_digest, sha256_file
from common.model_entries import RESULTS_UNCHANGED_FROM
from edge.inference import BackendConfig, create_backend, create_backend_with_fallback

BUNDLED_DIR = pathlib.Path(__file__).resolve().parents[1] / "bundled_models"


class ModelIntegrityError(ModelError):
    """A model file is missing or its sha256 differs from the manifest."""


class ModelFileMissing(ModelIntegrityError):
    """A model file named by the manifest is not in the folder."""


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


def entry_digest(entry: dict) -> str:
    """The sha256 of a model's manifest entry as canonical JSON: everything a result or a take's score
    reads from it (its files' sha256, calibration, threshold, validation figures), so a model re-issued
    at the same version with another calibration or threshold has another digest."""
    return json_digest(entry)


def results_unchanged_from(entry) -> frozenset[str]:
    """The earlier entries' digests whose results ``entry`` gives unchanged (:data:`RESULTS_UNCHANGED_FROM`;
    empty for an entry that names none). The one reader of that list."""
    earlier = entry.get(RESULTS_UNCHANGED_FROM) if isinstance(entry, dict) else None
    return frozenset(digest for digest in earlier or () if isinstance(digest, str))


def same_results(kept_digest, entry) -> bool:
    """Whether a result or a take's score kept with the entry digest ``kept_digest`` is what ``entry`` (a
    manifest entry served now) gives: its digest, or one it names as giving the same results
    (:func:`results_unchanged_from`)."""
    return kept_digest == entry_digest(entry) or kept_digest in results_unchanged_from(entry)


def version_label(name, version, variant=None):
    """A model's version as results store it (a take's and a score's ``model_version``, an
    assessment's ``model_versions``): ``<name>-<version>``, then ``-<variant>`` for a model whose
    stamp names the variant that ran (the crackle model's fp32, int8...)."""
    return f"{name}-{version}" if variant is None else f"{name}-{version}-{variant}"


VALIDATION_KEY = "validation_status"


@dataclasses.dataclass(frozen=True)
class ValidationStatus:
    """What a model's manifest says about the evidence behind it, read in one place.

    ``synthetic``: trained on synthetic data only; ``clinically_validated``: validated on the
    patients it will screen (no model here is); ``training_population``: who the training data
    came from, in words; ``statement``: the sentence every result, page and referral carries (English);
    ``caveats``: what the statement says that figures alone do not, each ``{"code", ...numbers}`` for the
    clinic to word in its languages (``edge.web.presenters.crackle_model_caveats``), or None for a manifest
    that has none (a page then shows the statement).
    """

    synthetic: bool
    clinically_validated: bool
    training_population: str
    statement: str
    caveats: Optional[tuple] = dataclasses.field(default=None, metadata={
        "manifest": "optional: a list of objects, each with a non-empty string `code` (and the numbers it is worded from)"})

    def as_dict(self):
        """JSON form, as stamped on results (``caveats`` only when the manifest has them)."""
        stamped = dataclasses.asdict(self)
        if self.caveats is None:
            del stamped["caveats"]
        return stamped


def validation_status(entry, *, name="model"):
    """The :class:`ValidationStatus` of a manifest entry; its ``validation_status`` key is required.

    The one reader of a model's validation status: results, ``/readyz``, the UI banner, bundle
    listings and referrals all go through it, so a bundle without the key is refused rather than
    silently losing its warning.
    """
    status = entry.get(VALIDATION_KEY) if isinstance(entry, dict) else None
    if not isinstance(status, dict):
        raise ModelError(f"{name}: manifest entry has no {VALIDATION_KEY!r} object")
    problems = [f"{key} must be true or false" for key in ("synthetic", "clinically_validated")
                if not isinstance(status.get(key), bool)]
    problems += [f"{key} must be a non-empty string" for key in ("training_population", "statement")
                 if not isinstance(status.get(key), str) or not status.get(key).strip()]
    caveats = status.get("caveats")
    if caveats is not None and not (isinstance(caveats, list) and all(
            isinstance(item, dict) and isinstance(item.get("code"), str) and item["code"] for item in caveats)):
        problems.append("caveats must be a list of objects, each with a non-empty string code")
    if problems:
        raise ModelError(f"{name}: {VALIDATION_KEY}: {'; '.join(problems)}")
    return ValidationStatus(status["synthetic"], status["clinically_validated"], status["training_population"],
                            status["statement"], None if caveats is None else tuple(dict(item) for item in caveats))


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

    def entry_digest(self, name):
        """:func:`entry_digest` of model ``name``'s manifest entry."""
        return entry_digest(self.entry(name))

    def variant_files(self, name):
        """``{variant: {"file", "sha256"}}`` of a model: its variants, or its one file as ``default``."""
        entry = self.entry(name)
        try:
            return entry.get("variants") or {"default": {"file": entry["file"], "sha256": entry["sha256"]}}
        except KeyError as exc:
            raise ModelError(f"manifest entry of model {name!r} has neither variants nor {exc.args[0]!r}") from None

    def variant_spec(self, name, variant=None):
        """``(variant, {"file", "sha256"})``; ``variant`` defaults to the entry's ``default_variant``."""
        files = self.variant_files(name)
        variant = variant or self.entry(name).get("default_variant", "default")
        try:
            return variant, files[variant]
        except KeyError:
            raise ModelError(f"model {name!r} has no variant {variant!r}; have {sorted(files)}") from None

    def file_problem(self, spec):
        """Why a file of this folder cannot be trusted (missing, or another sha256), or None."""
        path = self.directory / spec["file"]
        if not path.is_file():
            return f"{spec['file']} is missing"
        actual = sha256_file(path)
        if actual != spec["sha256"]:
            return f"{spec['file']} has sha256 {actual}, manifest says {spec['sha256']}"
        return None

    def file_problems(self):
        """``{"name/variant": reason}`` for every model file that is missing or differs from its sha256."""
        problems = {}
        for name in self.manifest.get("models", {}):
            for variant, spec in self.variant_files(name).items():
                problem = self.file_problem(spec)
                if problem:
                    problems[f"{name}/{variant}"] = problem
        return problems

    def validation(self, name):
        """Model ``name``'s :class:`ValidationStatus` (see :func:`validation_status`)."""
        return validation_status(self.entry(name), name=name)

    def verified_path(self, name, *, variant=None):
        """Path of a model variant's file after checking its sha256."""
        _, spec = self.variant_spec(name, variant)
        path = self.directory / spec["file"]
        if not path.is_file():
            raise ModelFileMissing(f"model file missing: {path}")
        _check_digest(path, sha256_file(path), spec)
        return path

    def verified_bytes(self, name, *, variant=None):
        """A model file's bytes after checking their sha256: what was hashed is what gets loaded.

        For the small tree models, read whole; large models go through :meth:`verified_path`.
        """
        _, spec = self.variant_spec(name, variant)
        path = self.directory / spec["file"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelFileMissing(f"model file missing: {path}") from None
        except OSError as exc:
            raise ModelError(f"cannot read model file {path}: {exc}") from exc
        _check_digest(path, hashlib.sha256(data).hexdigest(), spec)
        return data

    def load(self, name, *, variant=None, backend_type="onnxruntime_cpu", threads=1, backends=None, cache_dir=None,
             on_fallback=None):
        """Verify and open a model variant on a backend from the registry.

        With ``on_fallback`` given, a GPU backend that cannot start falls back to the CPU
        and ``on_fallback(reason)`` is told; without it, that is an error.
        """
        entry = self.entry(name)
        variant, _ = self.variant_spec(name, variant)
        path = self.verified_path(name, variant=variant)
        config = BackendConfig(type=backend_type, model_path=str(path), threads=threads,
                               cache_dir=None if cache_dir is None else str(cache_dir))
        if on_fallback is None:
            backend = create_backend(config, backends=backends)
        else:
            backend = create_backend_with_fallback(config, backends=backends, on_fallback=on_fallback)
        return LoadedModel(name=name, variant=variant, entry=entry, backend=backend)


def _check_digest(path, actual, spec):
    if actual != spec["sha256"]:
        raise ModelIntegrityError(
            f"model file {path} has sha256 {actual}, manifest says {spec['sha256']}: refusing to load it"
        )
