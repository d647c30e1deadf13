"""``ildscreen bench``: speed and memory of the shipped models, as JSON.

torch is imported inside the command only (it is a training extra, absent on the edge).
"""

import json
import platform
import resource
import statistics
import sys
import time

import click
import numpy as np

from audio_models.errors import ModelError
from edge.inference.models import ModelRegistry


@click.group(name="bench")
def bench():
    """Benchmarks with JSON output."""


def _median_ms(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def measure_audio(*, runs: int, seconds: float) -> dict:
    """Time one recording through PyTorch eager, ORT FP32 and ORT INT8 (single thread).

    Every engine gets the same windows of one synthetic recording, one warm-up run, then
    the median of ``runs`` timed runs. The windows are those the service scores for a screened
    patient: every noisy copy the manifest's ``input_noise`` asks for
    (:func:`audio_models.scoring.network_windows`), so the time is a recording's, not one pass's.
    peak_rss_mb is the process's peak resident memory.
    """
    try:
        import torch
    except ImportError as exc:
        raise click.ClickException("bench audio needs torch (pip install 'ildscreen[train]')") from exc
    from audio_models import scoring, synthetic
    from audio_models.model import load_weights

    torch.set_num_threads(1)
    registry = ModelRegistry()
    try:
        entry = registry.entry("auscultation")
        models = {v: registry.load("auscultation", variant=v) for v in ("fp32", "int8")}
        net = load_weights(registry.directory / entry["torch_weights"]["file"])
    except (ModelError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"cannot load the auscultation models: {exc}") from exc
    recording = synthetic.synthesize(np.random.default_rng(0), duration_s=seconds, crackles=True)
    batch, starts = scoring.network_windows(recording.samples, entry)
    tensor = torch.from_numpy(batch)
    feed = {entry["inputs"][0]["name"]: batch}

    def torch_run():
        with torch.inference_mode():
            net(tensor)

    torch_run()  # warm-up, as the ORT sessions warm up at load
    result = {
        "torch_ms": _median_ms(torch_run, runs),
        "ort_fp32_ms": _median_ms(lambda: models["fp32"].run(feed), runs),
        "ort_int8_ms": _median_ms(lambda: models["int8"].run(feed), runs),
    }
    result.update(
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2), 1),
        fp32_speedup_vs_torch=round(result["torch_ms"] / result["ort_fp32_ms"], 2),
        int8_speedup_vs_fp32=round(result["ort_fp32_ms"] / result["ort_int8_ms"], 2),
        recording_s=seconds, windows=int(batch.shape[0]), noisy_copies=len(batch) // len(starts), runs=runs, threads=1,
        model_version=entry["version"], onnxruntime=__import__("onnxruntime").__version__, torch=torch.__version__,
        machine=platform.machine(), python=platform.python_version(),
    )
    return result


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key}: {value}")


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")


@bench.command(name="audio")
@json_option
@click.option("--runs", default=50, show_default=True, type=click.IntRange(min=3), help="Timed runs per engine.")
@click.option("--seconds", default=20.0, show_default=True, type=click.FloatRange(min=4.0), help="Recording length.")
def audio(as_json, runs, seconds):
    """Time one recording through PyTorch eager, ORT FP32 and ORT INT8 (single thread)."""
    _print(measure_audio(runs=runs, seconds=seconds), as_json)


@bench.command(name="screening")
@json_option
@click.option("--screenings", default=4, show_default=True, type=click.IntRange(min=1),
              help="Screenings each client runs per concurrency level.")
@click.option("--clients", default="1,8,32", show_default=True, help="Concurrency levels, comma-separated.")
def screening(as_json, screenings, clients):
    """Full screening API against a real `ildscreen serve` on loopback: p50/p95, throughput, RSS, cold start."""
    from edge.benchmark import benchmark_screening

    try:
        levels = tuple(int(level) for level in clients.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {clients!r}", param_hint="--clients") from None
    _print(benchmark_screening(levels=levels, screenings_per_client=screenings), as_json)


@bench.command(name="all")
@json_option
@click.option("--runs", default=50, show_default=True, type=click.IntRange(min=3), help="Timed audio runs per engine.")
@click.option("--screenings", default=4, show_default=True, type=click.IntRange(min=1),
              help="Screenings each client runs per concurrency level.")
def bench_all(as_json, runs, screenings):
    """Audio latency per engine, then the screening API at 1, 8 and 32 clients, in one run."""
    from edge.benchmark import benchmark_screening

    result = {"audio": measure_audio(runs=runs, seconds=20.0)}
    result.update(benchmark_screening(levels=(1, 8, 32), screenings_per_client=screenings))
    _print(result, as_json)
