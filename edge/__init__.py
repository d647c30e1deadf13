"""The clinic service: config, SQLite store, auth, web UI and JSON API, CLI."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ildscreen")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
