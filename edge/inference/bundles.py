"""Installed model bundles: install (verified before activation), activate, roll back, verify;
and the one bundle this process serves.

The models folder (``Settings.models_path``, default ``data/models``) holds::

    versions/<bundle id>/  manifest.json, its signature and the files it names: one folder per bundle
    staging/               installs in progress; a crash leaves a folder here, never a half version
    active                 the id of the bundle the service loads at start (one line); absent: bundled
    history.jsonl          append-only, one JSON line per switch: {at, action, bundle, previous}
    .lock                  held while a command changes the folder

A bundle id names the versions inside and the manifest it was installed from:
``<model>-<version>`` of every model by name, joined by ``_``, then ``_`` and the first 12 hex
digits of the manifest's sha256, e.g. ``auscultation-0.2.0_breath-0.1.0_labs-0.1.0_3fa2c1d4e5b6``.
The manifest holds every file's sha256, so the same versions with other files get another id,
and a manifest edited after install no longer matches its id. ``bundled`` is the package's
own ``edge/bundled_models/``, active while nothing else is.

Every bundle but ``bundled`` must carry ``manifest.json.sig``, an Ed25519 signature of its
manifest by a key pinned in the ``model_signing_keys`` setting (``bundle_checks``): checked at
install, activation, rollback, at start and by every ``/readyz``, so a bundle whose key is
unpinned later stops being served.

Rollback follows the history: every activation remembers the bundle it replaced, and rollback
returns to the most recent of those not yet rolled back; past the first activation that is
``bundled``.

A process serves one bundle, chosen once when it starts (:func:`select_active_bundle`): a
switch while it runs could score one visit's recordings and its labs with different versions,
so an activation or rollback takes effect when the service restarts.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterator, Optional

from audio_models.errors import ModelError
from edge.inference.bundle_checks import (
    SIGNATURE_FILE,
    bundle_files,
    file_problems,
    manifest_problems,
    signature_problem,
    smoke_run_problems,
)
from common.hashing import sha256_file
from common.model_entries import differences_beyond_words
from edge.inference.models import BUNDLED_DIR, ModelRegistry, entry_digest, results_unchanged_from
from edge.store.blobs import fsync_directory

logger = logging.getLogger(__name__)

BUNDLED_ID = "bundled"
BUNDLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,255}$")
ID_HASH_DIGITS = 12


class BundleError(ModelError):
    """A bundle cannot be installed or activated, or the active pointer cannot be trusted."""


def bundle_id_for(manifest: dict, manifest_bytes: bytes) -> str:
    """The id of a checked manifest: model versions plus a short hash of the manifest file."""
    versions = "_".join(f"{name}-{entry['version']}" for name, entry in sorted(manifest["models"].items()))
    return f"{versions}_{hashlib.sha256(manifest_bytes).hexdigest()[:ID_HASH_DIGITS]}"


def read_manifest(source: Path) -> tuple[bytes, object]:
    """The bytes and the parsed JSON of a bundle folder's ``manifest.json``."""
    path = Path(source) / "manifest.json"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"bundle {source} refused: cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return data, json.loads(data)
    except ValueError as exc:
        raise BundleError(f"bundle {source} refused: manifest.json is not valid JSON: {exc}") from exc


def manifest_problem(bundle_id: str, directory: Path) -> Optional[str]:
    """Why an installed bundle's manifest no longer matches its id (None when it does, or for
    the bundled models, which the package itself carries)."""
    if bundle_id == BUNDLED_ID:
        return None
    expected = bundle_id.rsplit("_", 1)[-1]
    path = Path(directory) / "manifest.json"
    actual = sha256_file(path)[:ID_HASH_DIGITS] if path.is_file() else None
    if actual == expected:
        return None
    return "manifest.json is missing" if actual is None else \
        f"manifest.json has sha256 {actual}..., its bundle id says {expected}..."


def installed_signature_problem(bundle_id: str, directory: Path, trusted_keys: list[str]) -> Optional[str]:
    """Why an installed bundle's manifest is not signed by a pinned key (None when it is, and for
    the bundled models, trusted as part of the package)."""
    if bundle_id == BUNDLED_ID:
        return None
    try:
        manifest_bytes = (Path(directory) / "manifest.json").read_bytes()
    except OSError:
        return "manifest.json is missing"
    return signature_problem(directory, manifest_bytes, trusted_keys)


def integrity_problems(bundle_id: str, registry: ModelRegistry, trusted_keys: list[str]) -> dict:
    """``{"model/variant", "manifest" or "signature": reason}``: model files missing or altered, an
    installed bundle's manifest when it no longer matches its id or is not signed by a pinned key."""
    problems = registry.file_problems()
    problem = manifest_problem(bundle_id, registry.directory)
    if problem:
        problems["manifest"] = problem
    problem = installed_signature_problem(bundle_id, registry.directory, trusted_keys)
    if problem:
        problems["signature"] = problem
    return problems


class ModelStore:
    """The models folder: installed bundles, the active pointer and the activation history."""

    def __init__(self, root: Path, trusted_keys: Optional[list[str]] = None):
        """``trusted_keys``: the pinned public keys (``model_signing_keys``); none: no bundle but
        ``bundled`` can be installed or activated."""
        self.root = Path(root)
        self.trusted_keys = list(trusted_keys or [])
        self.versions = self.root / "versions"
        self.staging = self.root / "staging"
        self.pointer = self.root / "active"
        self.history_path = self.root / "history.jsonl"

    def active_id(self) -> str:
        """The id in the active pointer; ``bundled`` when there is no pointer."""
        try:
            text = self.pointer.read_text(encoding="utf-8")
        except FileNotFoundError:
            return BUNDLED_ID
        except (OSError, UnicodeDecodeError) as exc:
            raise BundleError(f"active model pointer {self.pointer} cannot be read: {exc}") from exc
        if not BUNDLE_ID.match(text.strip()) or text.strip() + "\n" != text:
            raise BundleError(f"active model pointer {self.pointer} is corrupt ({text[:40]!r}): set it with "
                              "'ildscreen models activate ID' or 'ildscreen models rollback'")
        return text.strip()

    def active(self) -> tuple[str, Path]:
        """The active bundle's id and folder."""
        bundle_id = self.active_id()
        try:
            return bundle_id, self.directory_of(bundle_id)
        except BundleError as exc:
            raise BundleError(f"active model pointer {self.pointer} names a bundle that is not installed: "
                              f"{exc}") from exc

    def directory_of(self, bundle_id: str) -> Path:
        """The folder of an installed bundle (or of the bundled models)."""
        if bundle_id == BUNDLED_ID:
            return BUNDLED_DIR
        directory = self.versions / bundle_id
        if not BUNDLE_ID.match(bundle_id) or not (directory / "manifest.json").is_file():
            raise BundleError(f"no model bundle {bundle_id!r} is installed in {self.versions}; "
                              f"installed: {', '.join(self.installed_ids()) or 'none'}")
        return directory

    def installed_ids(self) -> list[str]:
        """Installed bundle ids, oldest install first."""
        if not self.versions.is_dir():
            return []
        folders = [path for path in self.versions.iterdir() if (path / "manifest.json").is_file()]
        return [path.name for path in sorted(folders, key=lambda path: (path.stat().st_mtime, path.name))]

    def describe(self, bundle_id: str) -> dict:
        """``{"id", "models": {name: {"version", "synthetic"}}}``, or ``{"id", "error"}``."""
        try:
            registry = ModelRegistry(self.directory_of(bundle_id))
            models = {name: {"version": entry.get("version"), "synthetic": registry.validation(name).synthetic}
                      for name, entry in sorted(registry.manifest["models"].items())}
        except (ModelError, KeyError, AttributeError, TypeError) as exc:
            return {"id": bundle_id, "error": f"unreadable manifest: {exc}"}
        return {"id": bundle_id, "models": models}

    def history(self) -> list[dict]:
        """Every recorded switch, oldest first."""
        try:
            lines = self.history_path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise BundleError(f"model history {self.history_path} cannot be read: {exc}") from exc
        events = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError as exc:
                if number == len(lines):
                    break  # cut short by a crash while appending: its switch was never made
                raise BundleError(f"model history {self.history_path} line {number} is corrupt: {exc}") from exc
        return events

    def install(self, source: Path, *, activate: bool = True) -> dict:
        """Verify a bundle folder, install it, and activate it unless ``activate`` is false.

        Returns ``{"bundle", "installed", "activated", "previous"}`` (``installed`` is false when
        the same bundle was already there).

        Raises
        ------
        BundleError
            Naming each model, file and reason; the models folder is then as it was.
        """
        manifest_bytes, manifest = read_manifest(source)
        problems = manifest_problems(manifest)
        if problems:
            raise BundleError(f"bundle {source} refused: " + "; ".join(problems))
        problem = signature_problem(Path(source), manifest_bytes, self.trusted_keys)
        if problem:
            raise BundleError(f"bundle {source} refused: {problem}")
        problems = self.unchanged_from_problems(manifest)
        if problems:
            raise BundleError(f"bundle {source} refused: " + "; ".join(problems))
        bundle_id = bundle_id_for(manifest, manifest_bytes)
        with self._locked():
            installed = not (self.versions / bundle_id).exists()
            if installed:
                self._stage_and_commit(Path(source), bundle_id, manifest_bytes, manifest)
                logger.info("installed model bundle %s", bundle_id)
            else:
                # Same manifest as an installed bundle: its copy was checked, but a damaged
                # source is still refused rather than reported as installed.
                problems = file_problems(Path(source), manifest)
                if problems:
                    raise BundleError(f"bundle {source} refused: " + "; ".join(problems))
            previous = self._switch(bundle_id, "install") if activate else None
        return {"bundle": bundle_id, "installed": installed, "activated": activate and previous != bundle_id,
                "previous": previous}

    def unchanged_from_problems(self, manifest: dict) -> list[str]:
        """Where ``manifest`` names, in a model's ``results_unchanged_from``, an entry this clinic has (bundled or
        installed) that differs from it beyond its words (:func:`common.model_entries.differences_beyond_words`):
        stored results made with that entry would read current although calculating again gives others. The
        export writes the list only for a re-issue that changed words alone; this catches a hand-edited or
        mistaken manifest before any result is judged by it. An entry the clinic never had cannot be checked
        and is not needed: no result here was made with it."""
        problems = []
        for bundle_id in [BUNDLED_ID, *self.installed_ids()]:
            try:
                known = json.loads((self.directory_of(bundle_id) / "manifest.json").read_text(encoding="utf-8"))
                known_models = known["models"]
            except (OSError, ValueError, KeyError, TypeError, BundleError):
                continue  # an unreadable bundle serves no result to keep current
            for name, entry in sorted(manifest["models"].items()):
                earlier = known_models.get(name) if isinstance(known_models, dict) else None
                if not isinstance(earlier, dict) or entry_digest(earlier) not in results_unchanged_from(entry):
                    continue
                differences = differences_beyond_words(earlier, entry)
                if differences:
                    problems.append(f"model {name}: results_unchanged_from names the entry of bundle {bundle_id}, "
                                    f"which differs beyond its words ({', '.join(differences)}): results made "
                                    f"with it would read current although calculating again gives others")
        return problems

    def activate(self, bundle_id: str) -> Optional[str]:
        """Point the service at an installed bundle; returns the bundle it replaces."""
        with self._locked():
            self.directory_of(bundle_id)
            return self._switch(bundle_id, "activate")

    def rollback(self) -> tuple[str, Optional[str]]:
        """Return to the bundle the latest remaining activation replaced: ``(now active, replaced)``."""
        with self._locked():
            current = self._current_or_none()
            stack = self._rollback_stack()
            if not stack and current == BUNDLED_ID:
                raise BundleError("nothing to roll back: the bundled models are active and no earlier "
                                  "activation is recorded")
            target = stack[-1] if stack else BUNDLED_ID
            try:
                self._require_intact(target)
            except BundleError as exc:
                raise BundleError(f"cannot roll back to {target}: {exc}") from exc
            self._record_switch("rollback", target, current)
            return target, current

    def verify(self) -> tuple[str, int, dict]:
        """Re-hash the active bundle: ``(id, files checked, {what: problem})``."""
        bundle_id, directory = self.active()
        registry = ModelRegistry(directory)
        files = sum(len(registry.variant_files(name)) for name in registry.manifest["models"])
        return bundle_id, files, integrity_problems(bundle_id, registry, self.trusted_keys)

    def _switch(self, bundle_id: str, action: str) -> Optional[str]:
        previous = self._current_or_none()
        if previous != bundle_id:
            self._require_intact(bundle_id)
            self._record_switch(action, bundle_id, previous)
        return previous

    def _current_or_none(self) -> Optional[str]:
        # A corrupt pointer must not stop the commands that repair it.
        try:
            return self.active_id()
        except BundleError:
            return None

    def _rollback_stack(self) -> list[str]:
        stack = []
        for event in self.history():
            if event.get("action") == "rollback":
                if stack:
                    stack.pop()
            elif event.get("previous"):
                stack.append(event["previous"])
        return stack

    def _require_intact(self, bundle_id: str) -> None:
        problems = integrity_problems(bundle_id, ModelRegistry(self.directory_of(bundle_id)), self.trusted_keys)
        if problems:
            raise BundleError(f"model bundle {bundle_id} is damaged, not activating it: "
                              + "; ".join(f"{key}: {value}" for key, value in sorted(problems.items())))

    def _record_switch(self, action: str, bundle_id: str, previous: Optional[str]) -> None:
        # History first: a crash before the pointer is renamed leaves a switch recorded but not
        # made, which rollback handles; the reverse would lose the way back.
        from edge.store.database import utc_now  # sqlite-utils, which imports numpy: not for 'models list'

        line = json.dumps({"at": utc_now(), "action": action, "bundle": bundle_id, "previous": previous})
        with open(self.history_path, "a+b") as handle:
            handle.seek(0)
            written = handle.read()
            if written and not written.endswith(b"\n"):
                handle.truncate(written.rfind(b"\n") + 1)  # a line torn by a crash: never a switch
            handle.write(line.encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary = self.root / f".active.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(bundle_id + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.pointer)
        fsync_directory(self.root)
        logger.info("model bundle %s active (was %s) by %s", bundle_id, previous, action)

    def _stage_and_commit(self, source: Path, bundle_id: str, manifest_bytes: bytes, manifest: dict) -> None:
        """Copy into ``staging/``, verify the copy, then rename it into ``versions/``."""
        self.staging.mkdir(parents=True, exist_ok=True)
        stage = self.staging / f"{bundle_id}.{secrets.token_hex(4)}"
        stage.mkdir()
        try:
            _copy_bundle(source, stage, manifest_bytes, manifest)
            problems = file_problems(stage, manifest) or smoke_run_problems(stage, manifest)
            if problems:
                raise BundleError(f"bundle {source} refused: " + "; ".join(problems))
            fsync_directory(stage)
            self.versions.mkdir(exist_ok=True)
            os.rename(stage, self.versions / bundle_id)
            fsync_directory(self.versions)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.staging.rmdir()  # only when empty: another install may be staging

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One changing command at a time (an install can take seconds)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


class VersionFileStore(ModelStore):
    """A :class:`ModelStore` (pointer, history, lock, rollback) whose versions each hold one file,
    ``file_name``, named ``<prefix>-<UTC time>_<first ID_HASH_DIGITS of its sha256>``; ``default_id``
    is the version with no file (the store's root). Subclasses set the class attributes: ``noun``
    and ``listed_as`` word their errors, raised as ``error``."""

    file_name: str
    default_id: str = BUNDLED_ID
    noun: str
    listed_as: str = "installed"
    error: type[BundleError] = BundleError

    def directory_of(self, version: str) -> Path:
        if version == self.default_id:
            return self.root
        directory = self.versions / version
        if not BUNDLE_ID.match(version) or not (directory / self.file_name).is_file():
            raise self.error(f"no {self.noun} {version!r} in {self.versions}; {self.listed_as}: "
                             f"{', '.join(self.installed_ids()) or 'none'}")
        return directory

    def installed_ids(self) -> list[str]:
        """Stored versions, oldest first (the id starts with its UTC time)."""
        if not self.versions.is_dir():
            return []
        return sorted(path.name for path in self.versions.iterdir() if (path / self.file_name).is_file())

    def read_checked(self, version: str) -> tuple[Path, bytes]:
        """The path and bytes of a stored version's file, refused when they no longer match its id."""
        path = self.directory_of(version) / self.file_name
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest()[:ID_HASH_DIGITS] != version.rsplit("_", 1)[-1]:
            raise self.error(f"{self.noun} {version} is damaged: {path} no longer matches its id")
        return path, data

    def commit_version(self, version: str, files: dict[str, bytes]) -> None:
        """Write ``files`` (name: content) into ``staging/``, fsync them, then rename the folder into
        ``versions/version``. The caller holds :meth:`_locked`."""
        self.staging.mkdir(parents=True, exist_ok=True)
        stage = self.staging / f"{version}.{secrets.token_hex(4)}"
        stage.mkdir()
        try:
            for name, content in files.items():
                with open(stage / name, "xb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
            self.versions.mkdir(exist_ok=True)
            os.rename(stage, self.versions / version)
            fsync_directory(self.versions)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _copy_bundle(source: Path, stage: Path, manifest_bytes: bytes, manifest: dict) -> None:
    """The manifest as it was hashed, its signature, and each file it names that the source has."""
    (stage / "manifest.json").write_bytes(manifest_bytes)
    shutil.copyfile(source / SIGNATURE_FILE, stage / SIGNATURE_FILE)
    for _, _, spec in bundle_files(manifest):
        origin, copy = source / spec["file"], stage / spec["file"]
        if origin.is_file() and not copy.exists():
            with open(origin, "rb") as reader, open(copy, "xb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
                writer.flush()
                os.fsync(writer.fileno())


@dataclasses.dataclass(frozen=True)
class SelectedBundle:
    """The bundle a process serves (its id and registry), or why none can be served."""

    bundle_id: Optional[str]
    registry: Optional[ModelRegistry] = None
    error: Optional[str] = None

    def require(self) -> ModelRegistry:
        """The registry, or a ``BundleError`` saying why there is none."""
        if self.error:
            raise BundleError(self.error)
        return self.registry


_selection: Optional[SelectedBundle] = None  # None: nothing selected, the bundled models serve


def select_active_bundle(models_dir: Path, trusted_keys: list[str]) -> SelectedBundle:
    """Make the active bundle of ``models_dir`` the one this process serves, and return it.

    Never raises: a corrupt pointer, a missing version, an altered manifest or one not signed by
    a key in ``trusted_keys`` becomes the selection's ``error``, and every model then refuses to
    load with that reason, rather than this process serving other models than the ones activated.
    """
    try:
        bundle_id, directory = ModelStore(models_dir).active()
        problem = manifest_problem(bundle_id, directory) or \
            installed_signature_problem(bundle_id, directory, trusted_keys)
        if problem:
            raise BundleError(f"model bundle {bundle_id}: {problem}")
        selection = SelectedBundle(bundle_id, ModelRegistry(directory))
    except ModelError as exc:
        selection = SelectedBundle(None, error=str(exc))
    return select_bundle(selection)


def select_bundle(selection: SelectedBundle) -> SelectedBundle:
    """Serve ``selection`` from now on in this process."""
    global _selection
    _selection = selection
    return selection


def selected_bundle() -> SelectedBundle:
    """The bundle this process serves (the bundled models until one is selected)."""
    if _selection is None:
        select_bundle(SelectedBundle(BUNDLED_ID, ModelRegistry(BUNDLED_DIR)))
    return _selection


def served_entry_digests() -> dict[str, str]:
    """:meth:`~edge.inference.models.ModelRegistry.entry_digest` of each model the bundle this process
    serves, by name ({} while it serves none): what an assessment keeps of the models it was
    calculated with, and ``edge.freshness`` compares with the served ones."""
    registry = selected_bundle().registry
    if registry is None:
        return {}
    return {name: registry.entry_digest(name) for name in registry.manifest["models"]}


def served_results_unchanged_from() -> dict[str, frozenset[str]]:
    """The earlier entry digests whose results each served model gives unchanged, by name
    (:func:`~edge.inference.models.results_unchanged_from`: a re-issue that changed only its words; {} while
    the process serves no bundle): a result kept with one of them is not out of date for that model."""
    registry = selected_bundle().registry
    if registry is None:
        return {}
    return {name: results_unchanged_from(registry.entry(name)) for name in registry.manifest["models"]}


def selected_registry() -> ModelRegistry:
    """The registry of the bundle this process serves; a ``BundleError`` when it has none."""
    return selected_bundle().require()
