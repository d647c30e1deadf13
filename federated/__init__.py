"""Federated learning across clinics: each clinic fits on its own confirmed outcomes and shares
only model updates; the hospital aggregates them with Flower (``flwr``, the ``federated`` extra).

Nothing here is on the serving path: ``ildscreen serve`` never imports this package.
See ``docs/federated.md``.
"""
