"""``ildscreen federated``: federated learning across clinics (the ``federated`` extra, Flower).

The group imports nothing of Flower or :mod:`federated` until a command runs, so the CLI (and
``ildscreen serve``) work without the extra.
"""
from __future__ import annotations

import json

import click

from edge.errors import IldscreenError

DEFAULT_NOISE_MULTIPLIER = 5.0  # with 60 rounds: epsilon about 8.6 at delta 1e-5 (docs/federated.md)
DEFAULT_CLIPPING_NORM = 0.1  # about the size of a clinic's update once the first rounds are past


@click.group()
def federated() -> None:
    """Federated learning: clinics share model updates, never patient rows."""


@federated.command("simulate")
@click.option("--clinics", "n_clinics", type=click.IntRange(2, 40), default=10, show_default=True,
              help="Simulated clinics (sizes log-spaced, smallest first).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic clinics.")
@click.option("--scale", type=click.FloatRange(0.25, 10), default=1.0, show_default=True,
              help="Multiplies every clinic's number of patients.")
@click.option("--rounds", type=click.IntRange(1, 500), default=60, show_default=True,
              help="FedProx training rounds (after one round that builds the shared feature scaler).")
@click.option("--proximal-mu", type=click.FloatRange(0, min_open=True), default=0.1, show_default=True,
              help="FedProx proximal weight: larger keeps each clinic's step closer to the global model.")
@click.option("--privacy/--no-privacy", default=True, show_default=True,
              help="Also run with Flower's server-side differential privacy and report its cost.")
@click.option("--noise-multiplier", type=click.FloatRange(0, min_open=True), default=DEFAULT_NOISE_MULTIPLIER,
              show_default=True, help="DP noise multiplier z (noise sd = z x clipping norm / clinics).")
@click.option("--clipping-norm", type=click.FloatRange(0, min_open=True), default=DEFAULT_CLIPPING_NORM,
              show_default=True, help="DP clipping norm of each clinic's update (L2).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def simulate(n_clinics: int, seed: int, scale: float, rounds: int, proximal_mu: float, privacy: bool,
             noise_multiplier: float, clipping_norm: float, as_json: bool) -> None:
    """Compare federated, central and local-only training of the labs model on N synthetic clinics
    (held-out rows of each clinic and pooled); all data synthetic, not a clinical validation."""
    try:  # only this command needs Flower (the 'federated' extra)
        from federated.privacy import PrivacySettings
        from federated.simulation import simulate as run_simulation
    except ImportError as exc:
        raise click.ClickException(f"federated learning needs the 'federated' extra ({exc}): "
                                   "pip install 'ildscreen[federated]'") from exc
    settings = PrivacySettings(noise_multiplier, clipping_norm) if privacy else None
    try:
        report = run_simulation(n_clinics, seed=seed, scale=scale, rounds=rounds, proximal_mu=proximal_mu,
                                privacy=settings)
    except IldscreenError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['data']}\n")
    for name in ("federated", "central", "local_only"):
        click.echo(f"{name:<11} pooled AUC {report[name]['auc']:.3f}  ECE {report[name]['ece']:.3f}   smallest clinics "
                   f"AUC {_format(report['smallest_clinics'][name]['auc'])}")
    if report["privacy"]:
        dp = report["privacy"]
        click.echo(f"with DP     pooled AUC {dp['federated']['auc']:.3f}  ECE {dp['federated']['ece']:.3f}   "
                   f"(epsilon {dp['epsilon']:.1f} at delta {dp['delta']:g}, per clinic)")
    click.echo(f"\n{report['rounds']} rounds, {report['communication']['bytes_total']} bytes exchanged, "
               f"{report['wall_s']:.1f} s; --json for per-clinic rows")


def _format(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
