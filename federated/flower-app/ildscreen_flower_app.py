"""Names the apps for Flower's loader; they live in the installed package (:mod:`federated.apps`)."""
from federated.apps import client_app, server_app

__all__ = ["client_app", "server_app"]
