"""``ildscreen ct`` (quantify a CT series, benchmark) and ``ildscreen imaging-server`` (the hospital service).

Both are thin layers over :mod:`imaging_server`; its domain errors become one-line messages.
The imaging extra (pydicom, dicomweb-client, scipy) is imported only when a command runs.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Callable, Optional

import click

from edge.commands.models import domain_errors, extra_needed

logger = logging.getLogger(__name__)

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The CT server's data folder. Default: $ILDSCREEN_IMAGING_DATA_DIR or ./imaging-data.",
)

database_url_option = click.option(
    "--database-url",
    default=None,
    help="sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE. Default: "
         "$ILDSCREEN_IMAGING_DATABASE_URL, else imaging.db in the data folder. Prefer the environment "
         "variable for a password: a command line is visible to other users of the machine.",
)


def imaging_errors(command: Callable) -> Callable:
    """Turn the CT service's errors (:func:`domain_errors`), and a missing imaging extra, into a
    one-line message."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with extra_needed("imaging-server"):
            return command(*args, **kwargs)

    return domain_errors(wrapper)


@click.group()
def ct() -> None:
    """Quantify CT series on this machine."""


@ct.command("quantify")
@click.argument("dicom_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--onnx-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="ONNX lung segmentation model to use instead of the classical mask.")
@click.option("--prior", "prior_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The patient's earlier CT series: adds the ILD extent progression and nodule follow-up.")
@click.option("--context", type=click.Choice(["incidental", "screening"]), default=None,
              help="Which nodule guideline governs: Fleischner 2017 (incidental) or Lung-RADS v2022 (screening). "
                   "Default: the nodule_guideline_context setting (incidental).")
@click.option("--finding-models", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of ONNX models replacing classical finding methods (nodule/consolidation/ild/vertebra.onnx).")
@data_dir_option
@imaging_errors
def ct_quantify(dicom_dir: Path, as_json: bool, onnx_model: Optional[Path], prior_dir: Optional[Path],
                context: Optional[str], finding_models: Optional[Path], data_dir: Optional[Path]) -> None:
    """Quantify the CT series in DICOM_DIR: lung density per zone, ILD extent, nodules, consolidation, bone.

    DICOM_DIR holds one series; its subfolders are read too (a downloaded case such as an LIDC-IDRI one
    keeps its images in series/ beside readers.xml), and files that are not DICOM are left out.

    The analysis settings (ground-glass thresholds, diffuse-pattern zone, nodule matching distance,
    consolidation share, lung-mask dents, the lung mask's lung_air_threshold_hu, lung_closing_radius_mm,
    lung_trachea_max_area_mm2 and lung_second_lung_min_ratio, ...; all in docs/reference/imaging-settings.md)
    are the CT server's: ILDSCREEN_IMAGING_* variables and the data folder's config.toml; these options
    beat them."""
    from imaging_server import DISCLAIMER
    from imaging_server.config import load_settings
    from imaging_server.dicom_io import load_series_folder
    from imaging_server.fhir_report import finding_statements
    from imaging_server.findings import finding_methods_for
    from imaging_server.quantify import quantify_volume
    from imaging_server.segmentation import segmenter_for

    # The server's settings, so that the command reports what the server would for the same series.
    settings = load_settings(data_dir=data_dir, onnx_model_path=onnx_model, finding_models_dir=finding_models,
                             nodule_guideline_context=context)
    segmenter = segmenter_for(settings)
    methods = finding_methods_for(settings)
    prior = None
    if prior_dir is not None:
        prior = quantify_volume(load_series_folder(prior_dir), segmenter=segmenter, methods=methods).metrics
    result = quantify_volume(load_series_folder(dicom_dir), segmenter=segmenter, methods=methods, prior=prior)
    if as_json:
        click.echo(json.dumps(result.metrics))
        return
    metrics = result.metrics
    click.echo(f"{'zone':<8} {'volume ml':>10} {'MLD HU':>8} {'HAA %':>7} {'LAA %':>7} {'skew':>7} {'kurt':>7} "
               f"{'ILD %':>7}")
    extent = metrics["ild_extent"]
    for name, row in [("whole", metrics), *metrics["zones"].items()]:
        ild = extent["percent"] if name == "whole" else extent["zones"][name]
        click.echo(f"{name:<8} {row['lung_volume_ml']:>10.1f} {_number(row['mean_lung_density_hu'], 8, 1)} "
                   f"{row['haa_percent']:>7.2f} {row['laa_percent']:>7.2f} {_number(row['skewness'], 7, 3)} "
                   f"{_number(row['kurtosis'], 7, 3)} {ild:>7.2f}")
    click.echo(f"fibrosis extent estimate (unvalidated): {result.extent_percent:.2f}% of lung volume")
    for line in finding_statements(metrics):
        click.echo(line)
    click.echo(f"methods: lung mask {result.segmenter}; ILD extent {extent['method']}; nodules "
               f"{metrics['nodule_guideline']['method']}; consolidation {metrics['consolidation']['method']}; "
               f"bone {metrics['bone']['method']}. {metrics['bone']['caveat']}")
    mask = result.metrics.get("lung_mask")
    held = (f" ({mask['volume_ml']:.1f} ml, of which {mask['dense_tissue_ml']:.1f} ml dense tissue >= -100 HU, "
            f"{mask['dense_tissue_percent']:.2f}%)" if mask else "")
    click.echo(f"lung mask: {result.segmenter}{held}. {DISCLAIMER}")


def _number(value: Optional[float], width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


@ct.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--size", type=click.IntRange(64, 1024), default=512, show_default=True, help="Rows and columns.")
@click.option("--slices", type=click.IntRange(16, 1000), default=300, show_default=True, help="Number of slices.")
@imaging_errors
def ct_bench(as_json: bool, size: int, slices: int) -> None:
    """Time reading and quantifying a synthetic SIZE x SIZE x SLICES series on one core (target < 10 s of CPU)."""
    from imaging_server.bench import run_benchmark

    result = run_benchmark(shape=(slices, size, size))
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{size}x{size}x{slices}: {result['total_seconds']:.1f} s ({result['total_cpu_seconds']:.1f} s of CPU) "
               f"on {result['cpu_cores']} core(s) "
               f"(read {result['read_seconds']:.1f} s, quantify {result['quantify_seconds']:.1f} s), "
               f"peak RSS {result['peak_rss_mb']:.0f} MB; target {result['target_cpu_seconds']:.0f} s of CPU "
               f"({result['target_seconds']:.0f} s wall); "
               f"before the findings: {result['previous_total_seconds']:.1f} s")
    click.echo("steps: " + ", ".join(f"{key.removesuffix('_seconds').replace('_', ' ')} {value:.1f} s"
                                     for key, value in result["steps"].items()))


@click.group("imaging-server")
def imaging_server() -> None:
    """The hospital's CT quantification service: referral API and PACS watcher."""


@imaging_server.command("serve")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8090).")
@click.option("--no-watch", is_flag=True, help="Serve the API only; do not poll the PACS.")
@data_dir_option
@database_url_option
@imaging_errors
def imaging_serve(host: Optional[str], port: Optional[int], no_watch: bool, data_dir: Optional[Path],
                  database_url: Optional[str]) -> None:
    """Run the referral API and, in a background thread, the PACS watcher."""
    from common.serving import bind_listener, serve_json_errors
    from imaging_server import ALGORITHM_NAME, ALGORITHM_VERSION
    from imaging_server.app import MAX_BUNDLE_BYTES, create_app
    from imaging_server.config import load_settings
    from imaging_server.findings import finding_methods_for
    from imaging_server.ingest import Watcher, recover_interrupted
    from imaging_server.segmentation import segmenter_for
    from imaging_server.store import redacted

    settings = load_settings(data_dir=data_dir, host=host, port=port, database_url=database_url)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The port first: on a busy one, stop before a database is created or migrated.
    listener = bind_listener(settings.host, settings.port)
    app = create_app(settings, pacs_watched=not no_watch)
    recovered = recover_interrupted(settings)
    if recovered:
        logger.warning("%s referrals interrupted while quantifying are waiting again", recovered)
    watcher = None if no_watch else Watcher(settings, segmenter_for(settings),
                                            finding_methods_for(settings))
    if watcher:
        watcher.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    click.echo(f"{ALGORITHM_NAME} {ALGORITHM_VERSION} CT server on http://{settings.host}:{settings.port}/ "
               f"(database {redacted(settings.database_target)}, PACS {settings.dicomweb_url}"
               f"{', not watched' if no_watch else ''})")
    try:
        proxy = ({"trusted_proxy": settings.trusted_proxy, "trusted_proxy_headers": {"x-forwarded-proto"}}
                 if settings.trusted_proxy else {})
        # waitress buffers a whole body before the app sees it: refuse one over the API's limit there.
        serve_json_errors(app, sockets=[listener], threads=settings.threads, ident="ildscreen-ct",
                          max_request_body_size=MAX_BUNDLE_BYTES + 64 * 1024, **proxy)
    finally:
        if watcher:
            watcher.stop()


def _add_token_holder_command(group: click.Group, adder: str, help_text: str) -> None:
    """Give ``group`` (clinics, readers, programme viewers) its ``add NAME`` command: register NAME with
    ``adder`` (``module:function`` of the imaging extra, imported when the command runs; each wraps
    ``imaging_server.store.add_token_holder``) and print the bearer token it returns."""
    module, function = adder.split(":")

    @group.command("add", help=help_text)
    @click.argument("name")
    @data_dir_option
    @database_url_option
    @imaging_errors
    def add(name: str, data_dir: Optional[Path], database_url: Optional[str]) -> None:
        add_holder = getattr(importlib.import_module(module), function)
        with _database(data_dir, database_url) as db:
            click.echo(add_holder(db, name))


@imaging_server.group("clinics")
def clinics() -> None:
    """Clinics allowed to refer, each with its own token."""


_add_token_holder_command(
    clinics, "imaging_server.store:add_clinic",
    "Register clinic NAME and print its bearer token (shown only now; only its SHA-256 is kept).")


@contextlib.contextmanager
def _database(data_dir: Optional[Path], database_url: Optional[str], *, create: bool = True):
    """The CT server's database, created and migrated (``create``), or one that must already
    exist (listing and revoking never create one); its pooled connections are closed afterwards."""
    from imaging_server.config import load_settings
    from imaging_server.store import dispose_engine, existing_database, prepare_database

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    target = settings.database_target
    try:
        yield (prepare_database if create else existing_database)(target, pool_size=1)
    finally:
        dispose_engine(target)


@clinics.command("revoke")
@click.argument("name")
@data_dir_option
@database_url_option
@imaging_errors
def clinics_revoke(name: str, data_dir: Optional[Path], database_url: Optional[str]) -> None:
    """Stop clinic NAME's token at once (its referrals and reports are kept; 'rotate' gives it a new one)."""
    from imaging_server.store import revoke_clinic

    with _database(data_dir, database_url, create=False) as db:
        revoke_clinic(db, name)
    click.echo(f"revoked the token of {name}")


@clinics.command("rotate")
@click.argument("name")
@data_dir_option
@database_url_option
@imaging_errors
def clinics_rotate(name: str, data_dir: Optional[Path], database_url: Optional[str]) -> None:
    """Give clinic NAME a new token, printed once; the old one stops at once."""
    from imaging_server.store import rotate_clinic_token

    with _database(data_dir, database_url, create=False) as db:
        click.echo(rotate_clinic_token(db, name))


@clinics.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
@database_url_option
@imaging_errors
def clinics_list(as_json: bool, data_dir: Optional[Path], database_url: Optional[str]) -> None:
    """List registered clinics."""
    from imaging_server.store import list_clinics

    with _database(data_dir, database_url, create=False) as db:
        rows = list_clinics(db)
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(f"{row['name']:<32} {row['created_at']}{'  revoked' if row['revoked'] else ''}")


@imaging_server.group("db")
def imaging_db() -> None:
    """The CT server's database schema."""


@imaging_db.command("migrate")
@data_dir_option
@database_url_option
@imaging_errors
def imaging_db_migrate(data_dir: Optional[Path], database_url: Optional[str]) -> None:
    """Create the database if needed and apply pending schema migrations (serve does this at start too);
    print the versions applied and the schema version as JSON."""
    from imaging_server.config import load_settings
    from imaging_server.store import apply_migrations, current_version, dispose_engine, open_database

    target = load_settings(data_dir=data_dir, database_url=database_url).database_target
    try:
        db = open_database(target, pool_size=1)
        applied = apply_migrations(db)
        click.echo(json.dumps({"database": db.url, "applied": applied, "schema_version": current_version(db)}))
    finally:
        dispose_engine(target)


@imaging_server.group("readers")
def readers() -> None:
    """Radiologists allowed to review reports' nodules, each with their own token (and a password for
    the reader pages in a browser)."""


_add_token_holder_command(
    readers, "imaging_server.nodule_review:add_reader",
    "Register radiologist NAME and print their bearer token (shown only now; only its SHA-256 is kept).")


@imaging_server.group("programme-viewers")
def programme_viewers() -> None:
    """People allowed to see the programme dashboard across clinics, each with their own token."""


_add_token_holder_command(
    programme_viewers, "imaging_server.programme:add_viewer",
    "Register programme viewer NAME and print their bearer token (shown only now; only its SHA-256 is kept).")


def _set_password_command(group: click.Group, kind: str, pages: str) -> None:
    """Give ``group`` (readers, programme viewers) its ``set-password NAME`` command: a browser password
    for the ``kind`` (an ``imaging_server.browser_sign_in.DOORS`` key) to sign in to ``pages``."""

    @group.command("set-password", help=f"Give {kind} NAME a password to sign in to {pages} in a browser "
                                        "(their sessions end).")
    @click.argument("name")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
    @data_dir_option
    @database_url_option
    @imaging_errors
    def set_password(name: str, password_stdin: bool, data_dir: Optional[Path], database_url: Optional[str]) -> None:
        from imaging_server.browser_sign_in import DOORS

        password = (sys.stdin.readline().rstrip("\n") if password_stdin
                    else click.prompt("Password", hide_input=True, confirmation_prompt=True))
        with _database(data_dir, database_url) as db:
            DOORS[kind].set_password(db, name, password)
        click.echo(f"password set for {kind} {name}")


_set_password_command(readers, "reader", "/reader")
_set_password_command(programme_viewers, "programme viewer", "/programme")


@imaging_server.command("forget-sign-ins")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@data_dir_option
@database_url_option
@imaging_errors
def forget_sign_ins(as_json: bool, data_dir: Optional[Path], database_url: Optional[str]) -> None:
    """Delete sign-in attempts (programme view and reader pages) older than
    sign_in_audit_retention_days, and ended sessions; print how many went. serve does this at
    its start, at each sign-in and (unless --no-watch) hourly: cron this daily for a server run with
    --no-watch that may go long with nobody signing in."""
    from imaging_server.browser_sign_in import forget_old_sign_ins
    from imaging_server.config import load_settings

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    retention_days = settings.sign_in_audit_retention_days
    with _database(data_dir, database_url, create=False) as db:
        removed = forget_old_sign_ins(db, retention_days=retention_days)
    if as_json:
        click.echo(json.dumps({**removed, "retention_days": retention_days}))
        return
    click.echo(f"removed {removed['audit_entries']} sign-in audit entries older than {retention_days} "
               f"days and {removed['sessions']} ended sessions")


@imaging_server.command("poll-once")
@data_dir_option
@database_url_option
@imaging_errors
def poll_once_command(data_dir: Optional[Path], database_url: Optional[str]) -> None:
    """Look once in the PACS for the images of every waiting referral and quantify what arrived."""
    from imaging_server.config import load_settings
    from imaging_server.ingest import poll_once
    from imaging_server.store import prepare_database

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    prepare_database(settings.database_target, pool_size=settings.pool_size)
    summary = poll_once(settings)
    click.echo(json.dumps({"checked": summary.checked, "reported": len(summary.reported),
                           "failed": len(summary.failed), "waiting": len(summary.waiting)}))


@imaging_server.command("bench")
@click.option("--clinics", type=click.IntRange(1, 2000), required=True, help="Number of clinics at once.")
@click.option("--referrals-per-clinic", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Referrals each clinic sends (each refers twice at once, retries, polls status and report).")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Client processes driving the clinics (each runs its clinics as threads).")
@click.option("--server-threads", type=click.IntRange(1, 64), default=16, show_default=True,
              help="Request threads of the benchmarked serve process.")
@click.option("--database-url", default=None,
              help="A scratch database to run against (its bench clinics and referrals stay). "
                   "Default: a temporary SQLite file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@imaging_errors
def imaging_bench(clinics: int, referrals_per_clinic: int, workers: int, server_threads: int,
                  database_url: Optional[str], as_json: bool) -> None:
    """Load benchmark: N clinics posting and polling referrals at once against a real serve on loopback."""
    from imaging_server.load_bench import run_load_benchmark
    from imaging_server.store import checked_url

    if database_url is not None:
        checked_url(database_url)
    result = run_load_benchmark(clinics=clinics, database_url=database_url, referrals_per_clinic=referrals_per_clinic,
                                workers=workers, server_threads=server_threads)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{result['clinics']} clinics on {result['database']}: {result['referrals']} referrals, "
               f"{result['requests']} requests in {result['seconds']:.1f} s ({result['rps']:.0f}/s), "
               f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms; errors {result['errors']}, "
               f"lost {result['lost']}, duplicated {result['duplicated']}")
