"""``ildscreen bench``: speed and memory of the shipped models and of the command line's start, as JSON.

torch is imported inside the command only (it is a training extra, absent on the edge); numpy and the
models' registry too, so that ``ildscreen --help`` does not pay for them.
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import click

from audio_models.errors import ModelError


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
    import numpy as np

    from audio_models import scoring, synthetic
    from audio_models.model import load_weights
    from edge.inference.models import ModelRegistry

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


#: The commands ``bench cli-start`` times: the help, and three that read a data folder without scoring.
CLI_START_COMMANDS = (("--help",), ("users", "list"), ("models", "list"), ("outbox", "status"))
#: Packages a light command should not need; ``bench cli-start`` says which each command loaded.
HEAVY_PACKAGES = ("numpy", "onnxruntime", "pydantic", "fhir", "requests", "flask", "sqlite_utils", "scipy")


def _import_ms_by_package(importtime_lines: list[str]) -> dict:
    """``python -X importtime`` output summed per top-level package (self times, ms), largest first."""
    totals: dict[str, float] = {}
    for line in importtime_lines:
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().partition(".")[0]
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1000
    return {name: round(ms, 1) for name, ms in sorted(totals.items(), key=lambda item: -item[1])}


def measure_cli_start(*, runs: int, top: int, baseline: Optional[Path] = None) -> dict:
    """Wall time of ``runs`` fresh ``python -m edge ARGS`` processes per command of
    :data:`CLI_START_COMMANDS` (median and range, ms, on a temporary data folder made by ``db init``), and
    one ``-X importtime`` run of each: import time summed per package (the ``top`` largest) and which of
    :data:`HEAVY_PACKAGES` it loaded.

    ``baseline``: another checkout of the project (e.g. the main branch's), timed the same way in the same
    run, on the same data folder, its starts alternating with this checkout's, so that both meet the same
    load; its figures are under ``"baseline"``."""
    from common.child_process import PROJECT_ROOT, module_command

    env = {key: value for key, value in os.environ.items() if not key.startswith("ILDSCREEN_")}
    roots = {"commands": PROJECT_ROOT, **({"baseline": Path(baseline).resolve()} if baseline is not None else {})}
    with tempfile.TemporaryDirectory(prefix="ildscreen-cli-start-") as data_dir:
        def command(args, *flags, root=PROJECT_ROOT):
            where = module_command("edge", *args, env={**env, "ILDSCREEN_DATA_DIR": data_dir}, root=root)
            return {**where, "args": [where["args"][0], *flags, *where["args"][1:]]}

        made = subprocess.run(**command(("db", "init")), capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            raise click.ClickException(f"cannot make a data folder for the benchmark: {made.stderr.strip()}")
        result = {name: {} for name in roots}
        for args in CLI_START_COMMANDS:
            times = {name: [] for name in roots}
            for _ in range(runs):
                for name, root in roots.items():
                    start = time.perf_counter()
                    done = subprocess.run(**command(args, root=root), capture_output=True, text=True, timeout=120)
                    times[name].append((time.perf_counter() - start) * 1000)
                    if done.returncode != 0:
                        raise click.ClickException(f"ildscreen {' '.join(args)} failed in {root}: {done.stderr.strip()}")
            for name, root in roots.items():
                traced = subprocess.run(**command(args, "-X", "importtime", root=root), capture_output=True, text=True,
                                        timeout=120)
                by_package = _import_ms_by_package(traced.stderr.splitlines())
                result[name][" ".join(args)] = {
                    "median_ms": round(statistics.median(times[name]), 1), "min_ms": round(min(times[name]), 1),
                    "max_ms": round(max(times[name]), 1), "import_ms": round(sum(by_package.values()), 1),
                    "import_ms_by_package": dict(list(by_package.items())[:top]),
                    "heavy_packages_loaded": [package for package in HEAVY_PACKAGES if package in by_package]}
    report = {"commands": result["commands"]}
    if baseline is not None:
        report["baseline"] = {"checkout": str(roots["baseline"]), "commands": result["baseline"]}
    return {**report, "runs": runs, "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}


@bench.command(name="cli-start")
@json_option
@click.option("--runs", default=10, show_default=True, type=click.IntRange(min=1), help="Timed starts per command.")
@click.option("--top", default=8, show_default=True, type=click.IntRange(min=1),
              help="Packages listed in each command's import-time breakdown.")
@click.option("--baseline", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Another checkout of the project (e.g. main's) to time in the same run, alternating with this one.")
def cli_start(as_json, runs, top, baseline):
    """Start-up of the command line: wall time of fresh processes for --help, 'users list', 'models list' and
    'outbox status', and where their import time goes."""
    if baseline is not None and not (baseline / "edge" / "__main__.py").is_file():
        raise click.BadParameter(f"{baseline} holds no checkout of this project (no edge/__main__.py)",
                                 param_hint="--baseline")
    _print(measure_cli_start(runs=runs, top=top, baseline=baseline), as_json)
