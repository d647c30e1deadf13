"""Plumbing the clinic service (``edge``) and the hospital CT server (``imaging_server``) share.

Small and dependency-free on purpose: each server keeps its own domain, and this package holds
only what would otherwise be written twice (opening the listening socket, checking the order of
schema migrations).
"""
