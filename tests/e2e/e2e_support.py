"""Constants of the browser tests (imported by name: conftest modules are not importable by name)."""
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
NURSE_PASSWORD = "nurse password 1"
