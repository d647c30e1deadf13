"""``ildscreen federated``: federated learning across clinics (the ``federated`` extra, Flower).

The group imports nothing of Flower or :mod:`federated` until a command runs, so the CLI (and
``ildscreen serve``) work without the extra.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from edge.commands.models import domain_errors, extra_needed, model_errors

# Legacy engine, server-side DP on whole clinics:
DEFAULT_NOISE_MULTIPLIER = 5.0  # with 60 rounds: epsilon about 8.6 at delta 1e-5 (docs/federated.md)
DEFAULT_CLIPPING_NORM = 0.1  # about the size of a clinic's update once the first rounds are past
# Deployment engine, clinic-side DP per patient (docs/federated.md, measured on this simulation):
DEFAULT_LOCAL_NOISE_MULTIPLIER = 4.0  # with 6 Newton rounds: epsilon about 4.5 per patient at delta 1e-5
DEFAULT_LOCAL_CLIPPING_NORM = 2.0  # L2 norm of a patient's standardised row (median about 5: most rows shrink)


@click.group()
def federated() -> None:
    """Federated learning: clinics share model updates, never patient rows."""


@federated.command("simulate")
@click.option("--engine", type=click.Choice(["deployment", "legacy"]), default="deployment", show_default=True,
              help="deployment: Flower's SuperLink + one SuperNode per clinic, TLS, node authentication, SecAgg+, "
                   "federated Newton rounds, federated validation; legacy: Flower's gRPC server, FedProx, optional DP.")
@click.option("--clinics", "n_clinics", type=click.IntRange(2, 40), default=10, show_default=True,
              help="Simulated clinics (sizes log-spaced, smallest first).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic clinics.")
@click.option("--scale", type=click.FloatRange(0.25, 10), default=1.0, show_default=True,
              help="Multiplies every clinic's number of patients.")
@click.option("--rounds", type=click.IntRange(1, 500), default=60, show_default=True,
              help="Legacy engine: FedProx training rounds (after one round that builds the shared feature scaler).")
@click.option("--newton-rounds", type=click.IntRange(1, 30), default=6, show_default=True,
              help="Deployment engine: federated Newton rounds (after the statistics round; a validation round follows).")
@click.option("--round-timeout", "round_timeout_s", type=click.FloatRange(5, 3600), default=120, show_default=True,
              help="Deployment engine: seconds each SecAgg+ stage waits for the clinics before going on without them.")
@click.option("--offline-clinic", default=None, metavar="NAME",
              help="Deployment engine: end this clinic's SuperNode as round --offline-at-round starts (a clinic "
                   "going offline mid-run); the report names it.")
@click.option("--offline-at-round", type=click.IntRange(1, 40), default=2, show_default=True,
              help="The round at which --offline-clinic goes offline.")
@click.option("--proximal-mu", type=click.FloatRange(0, min_open=True), default=0.1, show_default=True,
              help="FedProx proximal weight: larger keeps each clinic's step closer to the global model.")
@click.option("--privacy/--no-privacy", default=None,
              help="Differential privacy. Legacy engine (default on there): also run with Flower's server-side DP on "
                   "whole clinics and report its cost. Deployment engine (default off): every clinic adds Gaussian "
                   "noise to its Newton sums (per patient, before SecAgg+) and the report gives each clinic's epsilon.")
@click.option("--noise-multiplier", type=click.FloatRange(0, min_open=True), default=None,
              help=f"DP noise multiplier z. Legacy (default {DEFAULT_NOISE_MULTIPLIER:g}): noise sd = z x clipping "
                   f"norm / clinics; deployment (default {DEFAULT_LOCAL_NOISE_MULTIPLIER:g}): noise sd = z x each "
                   "sum's sensitivity.")
@click.option("--clipping-norm", type=click.FloatRange(0, min_open=True), default=None,
              help=f"DP clipping norm (L2). Legacy (default {DEFAULT_CLIPPING_NORM:g}): of each clinic's update; "
                   f"deployment (default {DEFAULT_LOCAL_CLIPPING_NORM:g}, at least 1): of each patient's "
                   "standardised lab row.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@domain_errors
def simulate(engine: str, n_clinics: int, seed: int, scale: float, rounds: int, newton_rounds: int,
             round_timeout_s: float, offline_clinic, offline_at_round: int, proximal_mu: float, privacy,
             noise_multiplier: float, clipping_norm: float, as_json: bool) -> None:
    """Compare federated, central and local-only training of the labs model on N synthetic clinics
    (held-out rows of each clinic and pooled); with the deployment engine each clinic is also an edge
    data folder whose modalities are validated across the region. All synthetic, not a clinical validation."""
    with extra_needed("federated"):  # only this command needs Flower
        from federated.deployment import DeploymentPlan
        from federated.privacy import LocalPrivacy, PrivacySettings
        from federated.simulation import simulate as run_legacy
        from federated.simulation import simulate_deployment
    local = engine == "deployment"
    noise_multiplier = noise_multiplier or (DEFAULT_LOCAL_NOISE_MULTIPLIER if local else DEFAULT_NOISE_MULTIPLIER)
    clipping_norm = clipping_norm or (DEFAULT_LOCAL_CLIPPING_NORM if local else DEFAULT_CLIPPING_NORM)
    try:
        if local:
            settings = LocalPrivacy(noise_multiplier, clipping_norm) if privacy else None
        else:
            settings = PrivacySettings(noise_multiplier, clipping_norm) if privacy in (None, True) else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--clipping-norm / --noise-multiplier") from exc
    if offline_clinic is not None and engine != "deployment":
        raise click.BadParameter("only the deployment engine runs clinics as SuperNodes", param_hint="--offline-clinic")
    if engine == "deployment":
        plan = DeploymentPlan(newton_rounds=newton_rounds, round_timeout_s=round_timeout_s,
                              kill_clinic=None if offline_clinic is None else (offline_clinic, offline_at_round))
        report = simulate_deployment(n_clinics, seed=seed, scale=scale, plan=plan, privacy=settings)
    else:
        report = run_legacy(n_clinics, seed=seed, scale=scale, rounds=rounds, proximal_mu=proximal_mu,
                            privacy=settings)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['data']}\n")
    for name in ("federated", "central", "local_only"):
        click.echo(f"{name:<11} pooled AUC {report[name]['auc']:.3f}  ECE {report[name]['ece']:.3f}   smallest clinics "
                   f"AUC {_format(report['smallest_clinics'][name]['auc'])}")
    if report["privacy"] and "per_clinic" in report["privacy"]:
        dp = report["privacy"]
        click.echo(f"clinic-side DP: epsilon up to {_format(dp['epsilon_max'])} per patient at delta {dp['delta']:g} "
                   f"(z {dp['noise_multiplier']:g}, C {dp['clipping_norm']:g}); the federated row above carries "
                   "the noise")
    elif report["privacy"]:
        dp = report["privacy"]
        click.echo(f"with DP     pooled AUC {dp['federated']['auc']:.3f}  ECE {dp['federated']['ece']:.3f}   "
                   f"(epsilon {dp['epsilon']:.1f} at delta {dp['delta']:g}, per clinic)")
    for name, figures in (report.get("federated_validation") or {}).items():
        federated_figures, pooled = figures["federated"] or {}, figures["pooled"]
        click.echo(f"validation  {name}: federated AUC {_format(federated_figures.get('auc'))} "
                   f"(pooled {_format(pooled['auc'])}) on {pooled['n']} outcomes")
    if report.get("missing_clinics"):
        click.echo(f"missing clinics: {', '.join(report['missing_clinics'])}")
    click.echo(f"\n{report['rounds']} rounds ({report['engine']['runtime']} engine), "
               f"{report['communication']['bytes_total']} bytes exchanged, {report['wall_s']:.1f} s; "
               "--json for per-clinic rows")


@federated.command("publish-validation")
@click.argument("result", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", required=True, help="The programme region's name, shown at the clinics.")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ed25519 private key in PEM whose public key the clinics pin in model_signing_keys.")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The regional validation file to write (its signature goes beside it, OUT.sig).")
@click.option("--model-version", "model_versions", multiple=True, metavar="MODALITY=NAME-VERSION",
              help="The model whose outputs the region validated (e.g. labs=labs-0.1.0); the figures count only "
                   "at clinics serving that model, and a modality published without one never counts. Repeat per "
                   "modality.")
@model_errors
def publish_validation(result: Path, region: str, key_file: Path, out_file: Path, model_versions) -> None:
    """For the hospital: turn a federation run's RESULT (the ServerApp's result-path) into a signed
    regional validation file that clinics install with 'ildscreen regional-validation install'."""
    from edge.inference.bundle_checks import sign_file
    from edge.regional_validation import SIGNATURE_SUFFIX, document_from_federation

    versions = {}
    for item in model_versions:
        modality, _, version = item.partition("=")
        if not modality or not version:
            raise click.BadParameter(f"expected MODALITY=NAME-VERSION, got {item!r}", param_hint="--model-version")
        versions[modality.strip()] = version.strip()
    try:
        document = document_from_federation(json.loads(result.read_text(encoding="utf-8")), region=region,
                                            result_name=result.name, model_versions=versions)
    except ValueError as exc:  # unreadable JSON
        raise click.ClickException(f"{result}: not a federation result: {exc}") from exc
    out_file.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    try:
        public_key = sign_file(out_file, key_file.read_bytes(), out_file.with_name(out_file.name + SIGNATURE_SUFFIX))
    except ValueError as exc:
        out_file.unlink()
        raise click.ClickException(f"{key_file}: {exc}") from exc
    click.echo(f"written: {out_file} and {out_file.name}{SIGNATURE_SUFFIX} "
               f"({', '.join(document['modalities']) or 'no modality'}); signed by {public_key}")


def _format(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
