"""Plumbing the clinic service (``edge``) and the hospital CT server (``imaging_server``) share.

Small and light on purpose (no torch, no numpy: the serving path imports it): each server keeps
its own domain, and this package holds only what would otherwise be written twice (the error
base and the HTTP error handlers, settings loading, the request log, security headers, opening
the listening socket, the order of schema migrations, a file's sha256, the wrong-password
lockout policy, a child Python process that runs the parent's code), and the date a model's
manifest entry carries, which the crackle and the tabular training share.
"""
