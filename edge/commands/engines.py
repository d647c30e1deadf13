"""``ildscreen engines build``: load every neural model variant on the configured backend once,
so a Jetson builds its TensorRT engines (minutes) at first boot, not at the first patient.

The tree models (labs, breath) use ONNX-ML operators that TensorRT does not run; they stay on
ONNX Runtime's CPU provider and need no build.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import click

from audio_models.errors import ModelError
from edge.commands.models import domain_errors, require_active_bundle


@click.group()
def engines() -> None:
    """Inference engines of the shipped models."""


@engines.command("build")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data folder (its config chooses the backend and the cache folder).")
@domain_errors
def build(data_dir: Optional[Path]) -> None:
    """Verify and load each neural model variant of the active bundle; print JSON with the seconds each took."""
    from edge.config import load_settings

    settings = load_settings(data_dir=data_dir)
    bundle = require_active_bundle(settings)
    registry = bundle.registry
    report, fallbacks = [], []
    for name, entry in registry.manifest["models"].items():
        for variant in entry.get("variants", {}):
            started = time.perf_counter()
            try:
                registry.load(name, variant=variant, backend_type=settings.inference_backend,
                              threads=settings.inference_threads, cache_dir=settings.engine_cache_path,
                              on_fallback=fallbacks.append)
            except ModelError as exc:
                raise click.ClickException(f"{name}/{variant}: {exc}") from exc
            report.append({"model": name, "variant": variant, "seconds": round(time.perf_counter() - started, 3)})
    click.echo(json.dumps({"bundle": bundle.bundle_id, "backend": settings.inference_backend,
                           "cache_dir": str(settings.engine_cache_path), "built": report, "fallbacks": fallbacks}))
