"""``ildscreen models``: list, install, activate, roll back and verify model bundles.

A thin layer over :class:`edge.inference.bundles.ModelStore` (layout, bundle ids and rollback
are described there). Every command but ``list`` is recorded in the data folder's audit trail
when it has a database, and every switch in the models folder's ``history.jsonl``; neither
holds anything about patients.

A running service keeps the bundle it started with, so an activation or rollback takes effect
when it restarts: switching in the middle of a visit would score its recordings, labs and
breath reading with different model versions inside one screening.
"""
from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import click

from audio_models.errors import ModelError
from common.errors import DomainError
from edge.errors import IldscreenError

# The settings, the bundles and the database are imported by the commands that use them: a command's
# --help, and every other command, start without them (``ildscreen bench cli-start``).
if TYPE_CHECKING:
    from edge.config import Settings
    from edge.inference.bundles import ModelStore, SelectedBundle

RESTART = ("restart 'ildscreen serve' to use it (a running service keeps the bundle it started with, so that no "
           "screening mixes model versions)")

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Data folder (its models folder: ILDSCREEN_MODELS_DIR, default data/models). "
         "Default: $ILDSCREEN_DATA_DIR or ./data.",
)

# The switch of every command that lists rows (bundles, calibrations, accounts, referrals).
json_table_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def use_active_bundle(data_dir: Optional[Path]) -> SelectedBundle:
    """Score with the data folder's active bundle, as a service started on it would.

    Its ``error`` is not raised here: every model then refuses to load, giving that reason.
    """
    from edge.config import load_settings
    from edge.inference.bundles import select_active_bundle

    settings = load_settings(data_dir=data_dir)
    return select_active_bundle(settings.models_path, settings.model_signing_keys)


def require_active_bundle(settings: Settings) -> SelectedBundle:
    """The data folder's active bundle, for a command that cannot go on without it: a bundle that
    cannot be used stops the command with its reason (unlike :func:`use_active_bundle`)."""
    from edge.inference.bundles import select_active_bundle

    bundle = select_active_bundle(settings.models_path, settings.model_signing_keys)
    if bundle.error:
        raise click.ClickException(bundle.error)
    return bundle


def domain_errors(command: Callable) -> Callable:
    """Turn the library's errors (the clinic service's and the CT server's: both derive from
    ``common.errors.DomainError``) into a one-line CLI message."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper


def model_errors(command: Callable) -> Callable:
    """Settings and bundle errors (:func:`domain_errors`), and the model package's, become a one-line
    CLI message."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ModelError as exc:
            raise click.ClickException(str(exc)) from exc

    return domain_errors(wrapper)


@contextlib.contextmanager
def extra_needed(extra: str) -> Iterator[None]:
    """Imports of an optional extra (``ildscreen[EXTRA]``) inside: a missing module becomes a one-line
    message naming it and the extra to install. Any other ImportError is a broken install, not a
    missing extra, and keeps its traceback."""
    try:
        yield
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"the {extra} extra is not installed ({exc.name}): "
                                   f"pip install 'ildscreen[{extra}]'") from exc


def open_store(data_dir: Optional[Path]) -> tuple[Settings, ModelStore]:
    """The models folder of an existing data folder (or of ILDSCREEN_MODELS_DIR); never creates a data folder."""
    from edge.config import load_settings
    from edge.inference.bundles import ModelStore

    settings = load_settings(data_dir=data_dir)
    if settings.models_dir is None and not settings.data_dir.is_dir():
        raise click.ClickException(
            f"no data folder at {settings.data_dir.resolve()}: pass the clinic's --data-dir (or set "
            f"ILDSCREEN_DATA_DIR / ILDSCREEN_MODELS_DIR), or create it with 'ildscreen db init --data-dir "
            f"{settings.data_dir}'")
    return settings, ModelStore(settings.models_path, settings.model_signing_keys)


def record_in_audit_trail(settings: Settings, action: str, bundle_id: str, detail: dict, *,
                          object_type: str = "model_bundle") -> None:
    """Add a change a command made in the models folder (a model bundle, a site calibration, the regional
    validation: ``object_type``) to the audit trail, when the data folder has a database (never creating
    one); a database that cannot take it is a warning, the change having been made."""
    if not settings.database_path.exists():
        return
    from edge import audit
    from edge.store.database import open_database, write_transaction

    try:
        database = open_database(settings.database_path)
        try:
            with write_transaction(database):
                audit.record(database, audit.CLI_OPERATOR, action, object_type, bundle_id, detail)
        finally:
            database.close()
    except (IldscreenError, sqlite3.Error) as exc:
        click.echo(f"warning: not recorded in the audit trail: {exc}", err=True)


def describe_models(bundle: dict) -> str:
    if "error" in bundle:
        return bundle["error"]
    return ", ".join(f"{name} {model['version']}" + (" (synthetic)" if model["synthetic"] else "")
                     for name, model in bundle["models"].items())


@click.group()
def models() -> None:
    """Model bundles: list, install, activate, roll back, verify."""


@models.command("list")
@json_table_option
@data_dir_option
@model_errors
def list_bundles(as_json: bool, data_dir: Optional[Path]) -> None:
    """List the bundled models and the installed bundles; '*' marks the active one."""
    from edge.inference.bundles import BUNDLED_ID, BundleError

    _, store = open_store(data_dir)
    try:
        active, problem = store.active_id(), None
    except BundleError as exc:
        active, problem = None, str(exc)
    bundles = [{**store.describe(bundle_id), "active": bundle_id == active}
               for bundle_id in (BUNDLED_ID, *store.installed_ids())]
    if as_json:
        click.echo(json.dumps({"active": active, "bundles": bundles}, indent=2))
    else:
        for bundle in bundles:
            click.echo(f"{'*' if bundle['active'] else ' '} {bundle['id']}  {describe_models(bundle)}")
    if problem:
        raise click.ClickException(problem)


@models.command("install")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-activate", is_flag=True, help="Install only; activate later with 'ildscreen models activate ID'.")
@data_dir_option
@model_errors
def install(path: Path, no_activate: bool, data_dir: Optional[Path]) -> None:
    """Verify the bundle folder PATH (manifest.json and its files), install it and activate it."""
    settings, store = open_store(data_dir)
    result = store.install(path, activate=not no_activate)
    bundle_id = result["bundle"]
    record_in_audit_trail(settings, "install_model_bundle", bundle_id,
                          {"newly_installed": result["installed"], "activated": result["activated"],
                           "previous": result["previous"]})
    click.echo(f"{'installed' if result['installed'] else 'already installed'}: {bundle_id}")
    if result["activated"]:
        click.echo(f"active now (was {result['previous'] or 'unreadable'}); {RESTART}")
    elif no_activate:
        click.echo(f"not activated; activate it with 'ildscreen models activate {bundle_id}'")
    else:
        click.echo("it was already the active bundle")


@models.command("activate")
@click.argument("bundle_id", metavar="ID")
@data_dir_option
@model_errors
def activate(bundle_id: str, data_dir: Optional[Path]) -> None:
    """Make the installed bundle ID (or 'bundled') the one the service loads at start."""
    settings, store = open_store(data_dir)
    previous = store.activate(bundle_id)
    if previous == bundle_id:
        click.echo(f"{bundle_id} is already the active bundle")
        return
    record_in_audit_trail(settings, "activate_model_bundle", bundle_id, {"previous": previous})
    click.echo(f"active: {bundle_id} (was {previous or 'unreadable'}); {RESTART}")


@models.command("rollback")
@data_dir_option
@model_errors
def rollback(data_dir: Optional[Path]) -> None:
    """Return to the bundle that was active before the latest activation (at the first, the bundled models)."""
    settings, store = open_store(data_dir)
    bundle_id, previous = store.rollback()
    record_in_audit_trail(settings, "rollback_model_bundle", bundle_id, {"previous": previous})
    click.echo(f"rolled back to {bundle_id} (was {previous or 'unreadable'}); {RESTART}")


@models.command("verify")
@data_dir_option
@model_errors
def verify(data_dir: Optional[Path]) -> None:
    """Re-hash every model file of the active bundle against its manifest."""
    settings, store = open_store(data_dir)
    bundle_id, files, problems = store.verify()
    record_in_audit_trail(settings, "verify_model_bundle", bundle_id, {"ok": not problems, "problems": len(problems)})
    if problems:
        raise click.ClickException(f"bundle {bundle_id}: "
                                   + "; ".join(f"{key}: {value}" for key, value in sorted(problems.items())))
    click.echo(f"{bundle_id}: {files} model files match their manifest sha256")


@models.command("sign")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ed25519 private key in PEM (openssl genpkey -algorithm ed25519 -out KEY.pem), kept off the "
                   "clinic boxes.")
@model_errors
def sign(path: Path, key_file: Path) -> None:
    """For whoever publishes bundles: sign the bundle folder PATH's manifest.json (writes
    manifest.json.sig) and print the public key that clinics pin in model_signing_keys."""
    from edge.inference.bundle_checks import SIGNATURE_FILE, manifest_problems, sign_manifest
    from edge.inference.bundles import read_manifest

    _, manifest = read_manifest(path)
    problems = manifest_problems(manifest)
    if problems:
        raise click.ClickException(f"bundle {path} not signed: " + "; ".join(problems))
    try:
        public_key = sign_manifest(path, key_file.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{key_file}: {exc}") from exc
    click.echo(f"signed: {path / SIGNATURE_FILE}")
    click.echo(f"public key to pin (model_signing_keys): {public_key}")
