"""The clinic service: config, SQLite store, auth, web UI and JSON API, CLI."""
