"""One clinic in the federation, run as its own process: ``python -m federated.clinic_node
--server HOST:PORT --data clinic.npz``.

It reads only its own training rows (``X``, ``y`` in the ``.npz``), connects to the hospital's
Flower server and answers two kinds of round: ``statistics`` (the per-feature count, sum and
sum of squares that build the shared scaler) and ``train`` (a FedProx step from the global
model, :func:`federated.model.fit_proximal`). What leaves the process is those arrays and the
number of rows, never a row.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # before flwr is imported: nothing leaves for Flower's telemetry

import numpy as np  # noqa: E402
from flwr.client import NumPyClient, start_client  # noqa: E402

from federated.model import N_COEFFICIENTS, Scaler, feature_statistics, fit_proximal  # noqa: E402

STATISTICS = "statistics"
TRAIN = "train"


class ClinicClient(NumPyClient):
    """The clinic's side of each round, on its own rows only."""

    def __init__(self, X: np.ndarray, y: np.ndarray):
        self.X = X
        self.y = y

    def get_parameters(self, config):
        return [np.zeros(N_COEFFICIENTS)]

    def fit(self, parameters, config):
        if config.get("stage") == STATISTICS:
            return feature_statistics(self.X), len(self.y), {}
        if config.get("stage") != TRAIN:
            raise ValueError(f"unknown round stage {config.get('stage')!r}")
        scaler = Scaler.from_bytes(config["scaler"], int(config["n_examples"]))
        theta = fit_proximal(self.X, self.y, scaler, parameters[0], proximal_mu=float(config["proximal_mu"]))
        return [theta], len(self.y), {}

    def evaluate(self, parameters, config):
        return 0.0, len(self.y), {}  # held-out evaluation is the simulator's, not a federated round


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="HOST:PORT of the Flower server")
    parser.add_argument("--data", required=True, help=".npz with this clinic's training rows X, y")
    args = parser.parse_args(argv)
    with np.load(args.data) as data:
        X, y = data["X"], data["y"]
    start_client(server_address=args.server, client=ClinicClient(X, y).to_client(), insecure=True)


if __name__ == "__main__":
    main()
