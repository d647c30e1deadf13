"""What a model bundle must pass before it may be installed, as functions that return problems.

A bundle is a folder with a ``manifest.json`` (the schema of ``edge/bundled_models/``) and the
files it names. Checked here, each problem as ``"<model>[/<variant>]: <file or key>: <reason>"``:

- the manifest has every model the service runs (:data:`REQUIRED_MODELS`) with the keys the
  code reads, and features, sample rate and window length this software computes;
- every file it lists exists and matches its sha256 (``torch_weights`` are optional: only
  training and ``bench audio`` read them, and they are large; if present they must match);
- every ONNX file loads in ONNX Runtime on the CPU and runs once on zeros of the declared
  input shape, giving the declared outputs (a smoke run);
- ``manifest.json.sig`` is an Ed25519 signature over the exact bytes of ``manifest.json`` by one
  of the public keys pinned in the ``model_signing_keys`` setting. The manifest holds every
  file's sha256, so the signature covers the models too: integrity (sha256) plus origin (key).

The models shipped inside the package (``bundled``) carry no signature: they are trusted because
they are part of the installed software, like its code. Only bundles installed from elsewhere
must be signed; the private key stays with whoever publishes them (``ildscreen models sign``).
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from pathlib import Path
from typing import Optional

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audio_models.errors import ModelError
from audio_models.limits import MODEL_SAMPLE_RATE
from edge.errors import ValidationError
from edge.inference import BackendConfig, InferenceError, create_backend
from common.hashing import sha256_file
from edge.inference.models import VALIDATION_KEY, validation_status

# The audio scoring, the evidence model, the lab and breath features and numpy (all numpy) are imported
# by the manifest checks and the smoke run that use them: the model store imports this module, and
# 'ildscreen models list' reads manifests and files only (``ildscreen bench cli-start``).

COMMON_KEYS = ("name", "version", "inputs", "outputs", "training_data", VALIDATION_KEY)
REQUIRED_MODELS = {
    "auscultation": COMMON_KEYS + ("default_variant", "variants", "sample_rate", "window_s", "hop_s", "frame_s",
                                   "threshold"),
    "labs": COMMON_KEYS + ("file", "sha256", "calibration"),
    "breath": COMMON_KEYS + ("file", "sha256", "calibration", "n_sensors"),
}
SIGNATURE_FILE = "manifest.json.sig"
# A version and a file name become parts of paths: plain names only.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def manifest_problems(manifest: object) -> list[str]:
    """Why a parsed ``manifest.json`` cannot serve this software (empty when it can)."""
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, dict):
        return ["manifest.json: no 'models' object"]
    problems = [f"{name}: missing from manifest.json" for name in REQUIRED_MODELS if name not in models]
    for name, entry in models.items():
        if not isinstance(entry, dict):
            problems.append(f"{name}: manifest entry is not an object")
            continue
        required = REQUIRED_MODELS.get(name, ("version",))
        missing = [key for key in required if key not in entry]
        if missing:
            problems.append(f"{name}: manifest.json: missing {', '.join(missing)}")
            continue
        problems += [f"{name}: {problem}" for problem in _entry_problems(name, entry)]
    return problems


def _entry_problems(name: str, entry: dict) -> list[str]:
    problems = []
    if not PLAIN_NAME.match(str(entry["version"])):
        problems.append(f"version {entry['version']!r} is not a plain version string")
    if name in REQUIRED_MODELS and entry["name"] != name:
        problems.append(f"name {entry['name']!r} differs from its key")
    for variant, spec in model_files(name, entry):
        if not isinstance(spec, dict) or not PLAIN_NAME.match(str(spec.get("file"))) or \
                not SHA256.match(str(spec.get("sha256"))):
            problems.append(f"{variant}: needs a plain 'file' name and a hex 'sha256'")
    if name in REQUIRED_MODELS:
        try:
            validation_status(entry, name=name)
        except ModelError as exc:
            problems.append(str(exc).removeprefix(f"{name}: "))
        problems += _serving_problems(name, entry)
    return problems


def _serving_problems(name: str, entry: dict) -> list[str]:
    """Keys the serving code reads, and whether they fit what this software computes."""
    prevalence = entry["training_data"].get("prevalence") if isinstance(entry["training_data"], dict) else None
    problems = [] if _is_fraction(prevalence) else ["training_data.prevalence: must be a number between 0 and 1"]
    inputs = entry["inputs"]
    if not (isinstance(inputs, list) and inputs and all(_is_tensor_spec(spec) for spec in inputs)):
        return problems + ["inputs: need a list of {name, shape, dtype float32}"]
    if not (isinstance(entry["outputs"], list) and all(isinstance(o, dict) and "name" in o for o in entry["outputs"])):
        return problems + ["outputs: need a list of {name}"]
    if name == "auscultation":
        return problems + _auscultation_problems(entry)
    if name == "breath" and not (isinstance(entry["n_sensors"], int) and entry["n_sensors"] > 0):
        return problems + ["n_sensors: must be a positive integer"]
    from tabular_models.breath_signal import breath_feature_names
    from tabular_models.lab_panels import LAB_FEATURES

    expected = LAB_FEATURES if name == "labs" else breath_feature_names(int(entry["n_sensors"]))
    if tuple(inputs[0].get("feature_order", ())) != tuple(expected):
        problems.append(f"inputs[0].feature_order: differs from the {len(expected)} features this software computes")
    calibration = entry["calibration"]
    if not (isinstance(calibration, dict) and _is_number(calibration.get("slope"))
            and calibration["slope"] > 0 and _is_number(calibration.get("intercept"))):
        problems.append("calibration: needs a finite positive 'slope' and a finite 'intercept'")
    return problems


def _auscultation_problems(entry: dict) -> list[str]:
    from audio_models.scoring import INPUT_NOISE_SHAPES, MAX_INPUT_NOISE_DRAWS
    from edge.fusion.evidence import detector_validation

    problems = []
    if entry["default_variant"] not in (entry["variants"] or {}):
        problems.append(f"default_variant {entry['default_variant']!r} is not among its variants")
    if entry["sample_rate"] != MODEL_SAMPLE_RATE:
        problems.append(f"sample_rate {entry['sample_rate']!r}: this software feeds {MODEL_SAMPLE_RATE} Hz")
    for key in ("window_s", "hop_s", "frame_s", "threshold"):
        if not _is_number(entry[key]) or entry[key] <= 0:
            problems.append(f"{key}: must be a positive number")
    if len(entry["outputs"]) < 2:
        problems.append("outputs: needs the window and the frame probability")
    noises = {"input_noise": entry.get("input_noise"),
              **{f"population_input_noise.{pop}": value for pop, value in (entry.get("population_input_noise") or {}).items()}}
    for key, noise in noises.items():
        if noise is not None and not _is_input_noise(noise):
            problems.append(f"{key}: must be null or {{'snr_db': a number, 'draws': 1 to {MAX_INPUT_NOISE_DRAWS}, "
                            f"'seed': an integer, optionally 'shape': one of {', '.join(INPUT_NOISE_SHAPES)}}}, "
                            f"got {noise!r}")
    try:
        detector_validation(entry)
    except ValidationError as exc:
        problems.append(exc.message)
    width = entry["inputs"][0]["shape"][-1]
    if _is_number(entry["window_s"]) and width != round(entry["window_s"] * MODEL_SAMPLE_RATE):
        problems.append(f"inputs[0].shape: {width} samples is not window_s at {MODEL_SAMPLE_RATE} Hz")
    return problems


def model_files(name: str, entry: dict, *, with_weights: bool = False) -> list[tuple[str, dict]]:
    """``[(variant, {"file", "sha256"})]`` a manifest entry names (plus ``torch_weights`` if asked)."""
    variants = entry.get("variants")
    files = list(variants.items()) if isinstance(variants, dict) and variants else \
        [("default", {"file": entry.get("file"), "sha256": entry.get("sha256")})]
    if with_weights and "torch_weights" in entry:
        files.append(("torch_weights", entry["torch_weights"]))
    return files


def bundle_files(manifest: dict) -> list[tuple[str, str, dict]]:
    """Every file a checked manifest names: ``[(model, variant, spec)]``."""
    return [(name, variant, spec) for name, entry in manifest["models"].items()
            for variant, spec in model_files(name, entry, with_weights=True)]


def file_problems(folder: Path, manifest: dict) -> list[str]:
    """Files of a checked manifest that are missing from ``folder`` or differ from their sha256."""
    problems = []
    for name, variant, spec in bundle_files(manifest):
        path = folder / spec["file"]
        if not path.is_file():
            if variant != "torch_weights":
                problems.append(f"{name}/{variant}: {spec['file']}: missing")
            continue
        actual = sha256_file(path)
        if actual != spec["sha256"]:
            problems.append(f"{name}/{variant}: {spec['file']}: sha256 is {actual}, manifest says {spec['sha256']}")
    return problems


def smoke_run_problems(folder: Path, manifest: dict) -> list[str]:
    """Run each ONNX file of a checked manifest once on zeros of its declared input shape."""
    problems = []
    for name, entry in manifest["models"].items():
        for variant, spec in model_files(name, entry):
            problem = _smoke_run(folder / spec["file"], entry)
            if problem:
                problems.append(f"{name}/{variant}: {spec['file']}: {problem}")
    return problems


def _smoke_run(path: Path, entry: dict):
    import numpy as np

    feed = {spec["name"]: np.zeros([d if isinstance(d, int) else 1 for d in spec["shape"]], dtype=np.float32)
            for spec in entry.get("inputs", [])}
    try:
        outputs = create_backend(BackendConfig(type="onnxruntime_cpu", model_path=str(path))).run(feed)
    except InferenceError as exc:
        return f"does not load or run in ONNX Runtime: {exc}"
    except KeyError as exc:
        return f"takes input {exc.args[0]!r}, which the manifest does not declare"
    missing = [spec["name"] for spec in entry.get("outputs", []) if spec["name"] not in outputs]
    if missing:
        return f"gives no output {', '.join(missing)} although the manifest declares it"
    return None


def _is_tensor_spec(spec: object) -> bool:
    return (isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec.get("dtype") == "float32"
            and isinstance(spec.get("shape"), list) and bool(spec["shape"])
            and all(d is None or isinstance(d, str) or (isinstance(d, int) and d > 0) for d in spec["shape"]))


def _is_input_noise(value: object) -> bool:
    """Whether ``value`` is a usable ``{"snr_db", "draws", "seed"}``, with an optional ``"shape"`` of
    :data:`audio_models.scoring.INPUT_NOISE_SHAPES` (:func:`audio_models.scoring.noisy_copies`)."""
    from audio_models.scoring import INPUT_NOISE_SHAPES, MAX_INPUT_NOISE_DRAWS

    return (isinstance(value, dict) and _is_number(value.get("snr_db"))
            and value.get("shape", "white") in INPUT_NOISE_SHAPES
            and isinstance(value.get("draws"), int) and not isinstance(value.get("draws"), bool)
            and 1 <= value["draws"] <= MAX_INPUT_NOISE_DRAWS
            and isinstance(value.get("seed"), int) and not isinstance(value.get("seed"), bool))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_fraction(value: object) -> bool:
    return _is_number(value) and 0 < value < 1


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A pinned key: the base64 of a raw 32-byte Ed25519 public key (what ``models sign`` prints).

    Raises ``ValueError`` naming what is wrong with it.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{text[:12]!r}... is not base64") from exc
    if len(raw) != 32:
        raise ValueError(f"{text[:12]!r}... is {len(raw)} bytes, an Ed25519 public key is 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_text(key: Ed25519PublicKey) -> str:
    """How a public key is pinned in ``model_signing_keys``."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def signature_problem(folder: Path, manifest_bytes: bytes, trusted_keys: list[str]) -> Optional[str]:
    """Why ``folder``'s manifest is not signed by a pinned key (None when it is)."""
    return detached_signature_problem(manifest_bytes, Path(folder) / SIGNATURE_FILE, trusted_keys, what="bundle")


def detached_signature_problem(data: bytes, signature_path: Path, trusted_keys: list[str], *,
                               what: str) -> Optional[str]:
    """Why ``signature_path`` is not an Ed25519 signature of ``data`` by a pinned key (None when it
    is); ``what`` names the signed thing in the reason (a bundle, a regional validation)."""
    name = Path(signature_path).name
    if not trusted_keys:
        return (f"{name}: no model signing key is pinned (setting model_signing_keys), so no "
                f"{what} can be trusted")
    try:
        signature = base64.b64decode(Path(signature_path).read_bytes().strip(), validate=True)
    except FileNotFoundError:
        return f"{name}: missing: the {what} is unsigned"
    except (OSError, binascii.Error, ValueError) as exc:
        return f"{name}: unreadable ({exc})"
    for text in trusted_keys:
        try:
            public_key_from_text(text).verify(signature, data)
            return None
        except InvalidSignature:
            continue
    return f"{name}: not a signature of this {name.removesuffix('.sig')} by any pinned key (model_signing_keys)"


def sign_file(path: Path, private_key_pem: bytes, signature_path: Path) -> str:
    """Write ``signature_path``: the base64 Ed25519 signature of ``path``'s exact bytes, with an
    Ed25519 PEM private key; return the public key to pin.

    Raises ``ValueError`` when the key is not an unencrypted Ed25519 private key in PEM.
    """
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the key is {type(key).__name__}, not Ed25519 (openssl genpkey -algorithm ed25519)")
    signature = key.sign(Path(path).read_bytes())
    Path(signature_path).write_text(base64.b64encode(signature).decode("ascii") + "\n", encoding="ascii")
    return public_key_text(key.public_key())


def sign_manifest(folder: Path, private_key_pem: bytes) -> str:
    """Write ``folder/manifest.json.sig`` with an Ed25519 PEM private key; return the public key
    to pin.

    Raises ``ValueError`` when the key is not an unencrypted Ed25519 private key in PEM.
    """
    return sign_file(Path(folder) / "manifest.json", private_key_pem, Path(folder) / SIGNATURE_FILE)
