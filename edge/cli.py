"""The ``ildscreen`` command line: a thin layer over the library, one group per area.

Domain errors become a one-line message and exit status 1, never a traceback.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import sys
from pathlib import Path
from typing import Optional

import click

# Only click and the command groups here: each command imports what it uses when it runs, so that
# --help and the light commands start without the database, the settings, FHIR or numpy
# (``ildscreen bench cli-start`` measures it).
from edge import __version__
from edge.commands.device import device
from edge.commands.audio import audio
from edge.commands.bench import bench
from edge.commands.calibrate import calibrate, calibrations
from edge.commands.engines import engines
from edge.commands.evaluate import evaluate
from edge.commands.federated import federated
from edge.commands.models import domain_errors, json_table_option, models
from edge.commands.regional import regional_validation
from edge.commands.outcomes import outcomes
from edge.commands.programme import programme_group
from edge.commands.screen import screen
from edge.commands import breath as breath_commands
from edge.commands import labs as labs_commands
from edge.commands.imaging import ct, imaging_server

logger = logging.getLogger(__name__)

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data folder (database, recordings, config.toml). Default: $ILDSCREEN_DATA_DIR or ./data.",
)


def show_first_admin_password(password: Optional[str]) -> None:
    if password:
        click.echo(
            "\nFirst run: created user 'admin' with one-time password\n\n"
            f"    {password}\n\n"
            "It is shown only now. Log in and change it before anything else.\n",
        )


@click.group()
@click.version_option(__version__, prog_name="ildscreen")
def cli() -> None:
    """ildscreen: ILD screening at the clinic edge."""


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@data_dir_option
@domain_errors
def serve(host: Optional[str], port: Optional[int], data_dir: Optional[Path]) -> None:
    """Run the clinic service (HTTP API and UI)."""
    import threadpoolctl

    from common.serving import bind_listener, serve_json_errors
    from edge.app import create_app  # the app (Flask, every API and page) is for this command only
    from edge.backup_worker import BackupWorker
    from edge.config import load_settings
    from edge.store.backup import claim_pid_file, release_pid_file

    settings = load_settings(data_dir=data_dir, host=host, port=port)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The port first: on a busy one, stop before a folder, an admin or a pid file is made.
    listener = bind_listener(settings.host, settings.port)
    # Requests run in parallel on the cores; numpy's BLAS threads spinning beside them only
    # take CPU from the other requests (measured: about 10% of a screening's CPU time).
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")
    app = create_app(settings)
    resources = app.extensions["ildscreen"]
    show_first_admin_password(resources.first_admin_password)
    # Held open for the whole run: 'db restore' sees the database in use even without a pid file.
    presence = resources.folder.connect()
    pid_file = claim_pid_file(settings.data_dir)
    start_outbox_worker(resources.folder, settings)
    if settings.backup_interval_hours:
        BackupWorker(settings.database_path, settings.data_dir, interval_s=settings.backup_interval_hours * 3600,
                     keep=settings.backup_keep).start()
    # SIGTERM (systemd, docker stop) ends the process the same way as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    click.echo(f"ildscreen {__version__} serving on http://{settings.host}:{settings.port}/ "
               f"(data in {settings.data_dir.resolve()})")
    try:
        # The TLS front runs on this box (deploy/jetson/nginx.conf): only it may say a request was HTTPS.
        serve_json_errors(app, sockets=[listener], threads=settings.threads,
                          max_request_body_size=settings.max_upload_bytes + 1024 * 1024, ident="ildscreen",
                          trusted_proxy="127.0.0.1", trusted_proxy_headers={"x-forwarded-proto"})
    finally:
        # Running captures are cancelled on their boards and the serial ports closed.
        boards = len(resources.devices.statuses())
        resources.devices.close_all()
        logger.info("shut down: closed %s sensor board(s)", boards)
        if pid_file is not None:
            release_pid_file(pid_file)
        presence.close()


def start_outbox_worker(folder, settings) -> None:
    from edge.outbox_worker import OutboxWorker, client_from_settings

    client = client_from_settings(settings)
    if client is None:
        click.echo("No referral server configured (ILDSCREEN_REFERRAL_SERVER_URL): referrals wait in the outbox.")
        return
    OutboxWorker(folder, client, interval_s=settings.outbox_interval_s).start()


@cli.group()
def db() -> None:
    """Create, migrate and back up the database."""


@db.command("init")
@data_dir_option
@domain_errors
def db_init(data_dir: Optional[Path]) -> None:
    """Create the data folder and database, and the first admin account."""
    from edge.config import load_settings
    from edge.service import prepare_data_folder

    settings = load_settings(data_dir=data_dir)
    _, password = prepare_data_folder(settings)
    click.echo(f"database ready at {settings.database_path}")
    show_first_admin_password(password)


@db.command("migrate")
@data_dir_option
@domain_errors
def db_migrate(data_dir: Optional[Path]) -> None:
    """Apply pending schema migrations."""
    from edge.config import load_settings
    from edge.store.database import open_database
    from edge.store.migrations import apply_migrations, current_version

    settings = load_settings(data_dir=data_dir)
    if not settings.database_path.exists():
        raise click.ClickException(f"no database at {settings.database_path}; run 'ildscreen db init' first")
    database = open_database(settings.database_path)
    try:
        applied = apply_migrations(database)
        click.echo(f"schema at version {current_version(database)}; applied: {applied or 'none'}")
    finally:
        database.close()


@db.command("backup")
@click.argument("destination", required=False, type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
@domain_errors
def db_backup(destination: Optional[Path], data_dir: Optional[Path]) -> None:
    """Copy the live database to DESTINATION (default: data/backups/ildscreen-<time>.db, rotated)."""
    from edge.config import load_settings
    from edge.store.backup import backup_database, default_backup_path, rotate_backups

    settings = load_settings(data_dir=data_dir)
    if not settings.database_path.exists():
        raise click.ClickException(f"no database at {settings.database_path}")
    target = backup_database(settings.database_path, destination or default_backup_path(settings.data_dir))
    if destination is None:
        rotate_backups(target.parent, keep=settings.backup_keep)
    click.echo(f"backup written to {target} (integrity check ok)")


@db.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
@domain_errors
def db_restore(backup: Path, data_dir: Optional[Path]) -> None:
    """Replace the database with BACKUP (verified first; the service must be stopped).

    Ids the replaced database handed out (patients, visits, recordings, referrals...) are never
    handed out again by the restored one. Accounts and API tokens keep the replaced database's
    passwords, PINs, roles, disabled flags and revocations; every session ends, so everyone signs
    in again. The audit entries written after the backup are kept, and so are the referrals (with
    their hospital state, results, and the visit, assessment and patient a newer one stands on), so
    that their CT results keep coming; and so are the confirmed outcomes (HRCT, PFT) entered after
    the backup, with their patient, so that the advice they decide stays. Every patient's, visit's
    and account's version is raised above any read before the restore, so that an edit a client
    saves against one is refused rather than overwriting the restored record unseen.
    """
    from edge.config import load_settings
    from edge.store.backup import restore_database

    settings = load_settings(data_dir=data_dir)
    restored = restore_database(backup, settings.database_path)
    click.echo(f"restored {settings.database_path} from {backup}; the previous file is kept as "
               f"{settings.database_path.name}.before-restore")
    if restored.ids_raised:
        click.echo("ids the previous database handed out stay unused: "
                   + ", ".join(f"{table} up to {highest}" for table, highest in sorted(restored.ids_raised.items())))
    show_credentials_carried(restored.credentials)
    show_records_kept(restored.records)


def show_records_kept(kept: dict) -> None:
    """Say what the restore kept of the replaced database (:func:`edge.store.restore_records.carry_records`)."""
    if not kept:
        return
    click.echo(f"the audit trail runs on: {kept['audit_entries_kept']} entry(ies) written after the backup kept")
    if kept["referrals_carried"]:
        click.echo(f"referrals made after the backup kept, with their visit, assessment and (if new) patient, so "
                   f"their CT results keep coming: ids {', '.join(map(str, kept['referrals_carried']))} "
                   f"({kept['patients_carried']} patient(s), {kept['visits_carried']} visit(s) came with them; "
                   "their other measurements after the backup did not)")
    if kept["referrals_updated"]:
        click.echo("referrals whose status changed after the backup (at the hospital, or withdrawn) keep it: ids "
                   + ", ".join(map(str, kept["referrals_updated"])))
    if kept["referrals_not_carried"]:
        click.echo(_not_kept("referrals", "referral", kept["referrals_not_carried"]))
    if kept["outcomes_carried"]:
        click.echo("confirmed outcomes (HRCT, PFT) entered after the backup kept, so the advice they decide stays: "
                   f"ids {', '.join(map(str, kept['outcomes_carried']))} "
                   f"({kept['outcome_patients_carried']} patient(s) came with them)")
    if kept["outcomes_not_carried"]:
        click.echo(_not_kept("outcomes", "outcome", kept["outcomes_not_carried"]))
    if kept["monitoring_ends_carried"]:
        click.echo("ends of ILD monitoring recorded after the backup kept, so the advice they decide stays: ids "
                   f"{', '.join(map(str, kept['monitoring_ends_carried']))} "
                   f"({kept['monitoring_end_patients_carried']} patient(s) came with them)")
    if kept["monitoring_ends_updated"]:
        click.echo("ends of ILD monitoring resumed after the backup stay resumed: ids "
                   + ", ".join(map(str, kept["monitoring_ends_updated"])))
    if kept["monitoring_ends_not_carried"]:
        click.echo(_not_kept("ends of monitoring", "end of monitoring", kept["monitoring_ends_not_carried"]))
    if kept.get("versions_above"):
        click.echo("patients, visits and accounts read before the restore must be read again before an edit: one "
                   "saved against a version read then is refused (every version is now above it)")


def _not_kept(rows: str, row: str, ids: list[int]) -> str:
    return (f"{rows} NOT kept, never merged (their patient's code or id is another patient's in the backup, or the "
            f"backup has another {row} under the id); resolve them from the .before-restore file: ids "
            + ", ".join(map(str, ids)))


def show_credentials_carried(carried: dict[str, int]) -> None:
    """Say what the restore did to sign-in (:func:`edge.store.restore_credentials.carry_credentials`)."""
    click.echo(f"everyone signs in again: {carried['sessions_ended']} session(s) ended")
    if "users_given_current_state" not in carried:
        click.echo("there was no database to replace: accounts and API tokens are as the backup had them")
        return
    click.echo(f"accounts keep the previous database's passwords, PINs, roles and disabled flags "
               f"({carried['users_given_current_state']}); {carried['users_disabled_not_in_current']} account(s) it "
               f"did not have are disabled; {carried['api_tokens_revoked']} API token(s) it had revoked or did not "
               "have are revoked")
    lost_users = carried["users_lost_created_after_backup"]
    lost_tokens = carried["api_tokens_lost_created_after_backup"]
    if lost_users or lost_tokens:
        click.echo(f"lost with the restore (created after the backup): {lost_users} account(s), {lost_tokens} API "
                   "token(s); create them again ('ildscreen users add', 'ildscreen users token')")


@db.command("sweep-blobs")
@click.option("--dry-run", is_flag=True, help="List the unreferenced files; remove nothing.")
@data_dir_option
@domain_errors
def db_sweep_blobs(dry_run: bool, data_dir: Optional[Path]) -> None:
    """Remove stored files (recordings, breath readings) that no database row references.

    Files that a kept database (*.before-restore, backups/) references are kept, so undoing a
    restore or restoring a backup finds them. Safe beside a running service; audited.
    """
    from edge.config import load_settings
    from edge.service import require_database
    from edge.store.blob_sweep import sweep_unreferenced_files
    from edge.store.blobs import BlobStore
    from edge.store.database import open_database

    settings = load_settings(data_dir=data_dir)
    # Not open_existing_data_folder: its start-up clean-up of unfinished uploads would remove the
    # temporary file of an upload a running service is receiving.
    require_database(settings)
    database = open_database(settings.database_path)
    try:
        report = sweep_unreferenced_files(database, BlobStore(settings.blob_dir), settings.data_dir, dry_run=dry_run)
    finally:
        database.close()
    verb = "would remove" if dry_run else "removed"
    for item in report.removable:
        click.echo(f"{verb} {item.relative_path} ({item.size_bytes} bytes)")
    for item in report.kept:
        click.echo(f"kept {item.relative_path}: referenced by {', '.join(report.kept_by[item.relative_path])}")
    click.echo(f"{verb} {len(report.removable)} unreferenced file(s), {report.removable_bytes} bytes; kept "
               f"{len(report.kept)} that {len(report.kept_databases)} kept database(s) reference")


@cli.group()
def users() -> None:
    """Manage user accounts."""


def _opened(data_dir: Optional[Path]) -> contextlib.closing:
    """The database of an existing data folder (never created here), closed when the ``with`` block ends."""
    from edge.config import load_settings
    from edge.service import open_existing_data_folder

    return contextlib.closing(open_existing_data_folder(load_settings(data_dir=data_dir)).connect())


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["nurse", "clinician", "admin"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
@click.option("--full-name", default=None, help="The name printed with the role on referral letters.")
@data_dir_option
@domain_errors
def users_add(username: str, role: str, password_stdin: bool, data_dir: Optional[Path],
              full_name: Optional[str] = None) -> None:
    """Create an account; prints a one-time password unless --password-stdin is given."""
    from edge import audit
    from edge.schemas import USERNAME_PATTERN
    from edge.users import create_user

    if not re.match(USERNAME_PATTERN, username):
        raise click.ClickException(f"username {username!r} must be 2-32 lower-case letters, digits, '.', '_' or '-'")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with _opened(data_dir) as database:
        user, one_time = create_user(database, audit.CLI_OPERATOR, username=username, role=role, password=password,
                                     full_name=full_name)
    click.echo(f"created {user['role']} {user['username']}")
    if one_time:
        click.echo(f"one-time password: {one_time}")


@users.command("list")
@json_table_option
@data_dir_option
@domain_errors
def users_list(as_json: bool, data_dir: Optional[Path]) -> None:
    """List accounts."""
    from edge.users import list_users, public_view

    with _opened(data_dir) as database:
        rows = [public_view(user) for user in list_users(database)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "disabled" if row["disabled"] else ("locked" if row["locked"] else "active")
        click.echo(f"{row['username']:<24} {row['role']:<10} {state}")


def _user_named(database, username: str) -> dict:
    """The account named ``username``; a one-line CLI error when there is none."""
    from edge.users import find_user

    user = find_user(database, username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}")
    return user


def _set_disabled(username: str, disabled: bool, data_dir: Optional[Path]) -> None:
    from edge import audit
    from edge.users import update_user

    with _opened(data_dir) as database:
        user = _user_named(database, username)
        # The operator acts on the account as it is now: the version just read, so that only an
        # edit saved between that read and this write is refused.
        update_user(database, audit.CLI_OPERATOR, user["id"], disabled=disabled, version=user["version"])
    click.echo(f"{'disabled' if disabled else 'enabled'} {username}")


@users.command("disable")
@click.argument("username")
@data_dir_option
@domain_errors
def users_disable(username: str, data_dir: Optional[Path]) -> None:
    """Disable an account: its sessions and tokens stop working at once."""
    _set_disabled(username, True, data_dir)


@users.command("enable")
@click.argument("username")
@data_dir_option
@domain_errors
def users_enable(username: str, data_dir: Optional[Path]) -> None:
    """Re-enable an account and clear its lockout."""
    _set_disabled(username, False, data_dir)


@users.command("reset-password")
@click.argument("username")
@data_dir_option
@domain_errors
def users_reset_password(username: str, data_dir: Optional[Path]) -> None:
    """Give USERNAME a one-time password (printed once, to be changed at next login), end all its
    sessions and tokens and clear its lockout; audited."""
    from edge import audit
    from edge.users import reset_password

    with _opened(data_dir) as database:
        user = _user_named(database, username)
        password = reset_password(database, audit.CLI_OPERATOR, user["id"])
    click.echo(f"one-time password for {user['username']}: {password}")
    click.echo("It is shown only now; the account must change it at the next login. "
               "Its sessions and tokens have ended.")


@users.command("token")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. 'lab importer'.")
@data_dir_option
@domain_errors
def users_token(username: str, name: str, data_dir: Optional[Path]) -> None:
    """Issue a bearer token acting as USERNAME for a machine client; printed once."""
    from edge import audit
    from edge.auth import create_api_token

    with _opened(data_dir) as database:
        user = _user_named(database, username)
        _, token = create_api_token(database, audit.CLI_OPERATOR, user["id"], name)
    click.echo(token)


@users.command("tokens")
@click.argument("username")
@json_table_option
@data_dir_option
@domain_errors
def users_tokens(username: str, as_json: bool, data_dir: Optional[Path]) -> None:
    """List USERNAME's API tokens with their ids (never the token), revoked ones included."""
    from edge.auth import list_api_tokens

    with _opened(data_dir) as database:
        tokens = list_api_tokens(database, _user_named(database, username)["id"])
    if as_json:
        click.echo(json.dumps(tokens, indent=2))
        return
    for token in tokens:
        state = f"revoked {token['revoked_at']}" if token["revoked_at"] else "valid"
        click.echo(f"{token['id']:<6} {token['name']:<32} created {token['created_at']}  {state}")


@users.command("revoke-token")
@click.argument("username")
@click.argument("token_id", type=int)
@data_dir_option
@domain_errors
def users_revoke_token(username: str, token_id: int, data_dir: Optional[Path]) -> None:
    """Revoke USERNAME's API token TOKEN_ID (see 'ildscreen users tokens') at once; the account's other
    tokens and sessions go on; audited. A token already revoked is said so, and nothing changes."""
    from edge import audit
    from edge.auth import revoke_api_token
    from edge.errors import NotFound

    with _opened(data_dir) as database:
        user_id = _user_named(database, username)["id"]
        try:
            token, already = revoke_api_token(database, audit.CLI_OPERATOR, user_id, token_id)
        except NotFound:
            # The library names the account by id (as the API's URL does); the operator typed its name.
            raise click.ClickException(f"{username} has no API token with id {token_id} "
                                       f"('ildscreen users tokens {username}' lists them)") from None
    if already:
        click.echo(f"API token {token['id']} ({token['name']}) of {username} was already revoked at "
                   f"{token['revoked_at']}: nothing changed")
        return
    click.echo(f"revoked API token {token['id']} ({token['name']}) of {username}")


@cli.group()
def outbox() -> None:
    """Referrals waiting for, or delivered to, the hospital."""


@outbox.command("status")
@json_table_option
@data_dir_option
@domain_errors
def outbox_status(as_json: bool, data_dir: Optional[Path]) -> None:
    """List referrals with their delivery status and last error (a read of clinical records: audited)."""
    from edge import audit
    from edge.outbox import list_referrals
    from edge.store.database import write_transaction

    with _opened(data_dir) as database:
        rows = list_referrals(database)
        with write_transaction(database):
            audit.record(database, audit.CLI_OPERATOR, "read", "record_list", None, {"command": "outbox status"})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['code']}  {row['status']:<15} attempts={row['attempts']}  {row['last_error'] or ''}")
    if not rows:
        click.echo("no referrals in the outbox")
    _say_whether_referrals_go_out(data_dir)


def _say_whether_referrals_go_out(data_dir: Optional[Path]) -> None:
    """The clinic IT's check (README, *First day*): without a referral server nothing ever leaves."""
    from edge.config import load_settings

    if not load_settings(data_dir=data_dir).referral_server_configured:
        click.echo("no referral server configured (ILDSCREEN_REFERRAL_SERVER_URL, ILDSCREEN_REFERRAL_SERVER_TOKEN): "
                   "referrals wait in the outbox")


@outbox.command("deliver")
@data_dir_option
@domain_errors
def outbox_deliver(data_dir: Optional[Path]) -> None:
    """Send due referrals and poll for CT results now, once."""
    from edge.config import load_settings
    from edge.outbox_worker import OutboxWorker, client_from_settings
    from edge.service import open_existing_data_folder

    settings = load_settings(data_dir=data_dir)
    client = client_from_settings(settings)
    if client is None:
        raise click.ClickException("no referral server configured: set ILDSCREEN_REFERRAL_SERVER_URL and "
                                   "ILDSCREEN_REFERRAL_SERVER_TOKEN")
    folder = open_existing_data_folder(settings)
    click.echo(json.dumps(OutboxWorker(folder, client, interval_s=settings.outbox_interval_s).run_once()))


cli.add_command(evaluate)
cli.add_command(screen)
cli.add_command(audio)
cli.add_command(bench)
cli.add_command(engines)
cli.add_command(models)
cli.add_command(device)
cli.add_command(labs_commands.labs)
cli.add_command(breath_commands.breath)
cli.add_command(ct)
cli.add_command(imaging_server)
cli.add_command(outcomes)
cli.add_command(programme_group)
cli.add_command(calibrate)
cli.add_command(calibrations)
cli.add_command(federated)
cli.add_command(regional_validation)


def main() -> None:
    cli(prog_name="ildscreen")


if __name__ == "__main__":  # `python -m edge.cli`, as `python -m edge` and the `ildscreen` script
    main()
