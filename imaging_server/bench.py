"""Benchmark: reading and quantifying a synthetic 512 x 512 x 300 CT series on one CPU core.

The phantom is generated and written to disk by the parent process; a fresh child process
pinned to one core reads the DICOM files and quantifies them, so that its peak RSS measures the
quantification alone (``python -m imaging_server.bench FOLDER`` is that child, run on the parent's
interpreter and code: :func:`common.child_process.module_command`).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.child_process import module_command
from imaging_server.dicom_io import load_series_folder
from imaging_server.phantom import make_phantom, write_series
from imaging_server.quantify import quantify_volume

TARGET_SECONDS = 30.0
# Issue 28: CPU seconds of read + quantify of the 512 x 512 x 300 series; CPU, not wall, because the
# wall time on the shared development machine depends on what else runs.
TARGET_CPU_SECONDS = 10.0
# The last figure before the findings (ILD extent, nodules, consolidation, bone) were added:
# README "Accuracy and speed", measured 2026-11-22 on the development machine.
PREVIOUS_TOTAL_SECONDS = 19.6


def run_benchmark(*, shape: tuple[int, int, int] = (300, 512, 512)) -> dict:
    """Generate the phantom, then time read + quantify in a one-core child process.

    Returns
    -------
    dict
        ``shape``, ``read_seconds``, ``quantify_seconds``, ``total_seconds``, ``total_cpu_seconds`` (with its
        ``user_cpu_seconds`` and ``system_cpu_seconds``), ``peak_rss_mb``,
        ``cpu_cores`` (1 when pinning worked), ``target_seconds``, ``within_target``, ``target_cpu_seconds``,
        ``within_cpu_target``,
        ``previous_total_seconds`` (the figure before the findings were added), ``steps`` (seconds
        of each quantification step), and the phantom's truth next to the measured lung volume and HAA%.
    """
    phantom = make_phantom(shape=shape, field_of_view_mm=360.0)
    with tempfile.TemporaryDirectory(prefix="ildscreen-ct-bench-") as folder:
        write_series(phantom, Path(folder), identifying=False)
        truth = phantom.truth
        del phantom
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        # The child imports the code this process imported, wherever the command was started from.
        child = subprocess.run(**module_command("imaging_server.bench", str(Path(folder).resolve()), env=env),
                               capture_output=True, text=True, check=True)
    result = json.loads(child.stdout)
    result.update({
        "shape": list(shape),
        "target_seconds": TARGET_SECONDS,
        "within_target": result["total_seconds"] < TARGET_SECONDS,
        "target_cpu_seconds": TARGET_CPU_SECONDS,
        "within_cpu_target": result["total_cpu_seconds"] < TARGET_CPU_SECONDS,
        "previous_total_seconds": PREVIOUS_TOTAL_SECONDS,
        "truth_lung_volume_ml": round(truth["lung_volume_ml"], 1),
        "truth_haa_percent": round(truth["haa_percent"], 2),
    })
    return result


def measure(folder: Path) -> dict:
    """Read and quantify the series in ``folder`` on one core; report seconds and peak RSS."""
    cores = 0
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        cores = len(os.sched_getaffinity(0))
    started, cpu_started = time.perf_counter(), time.process_time()
    usage_started = resource.getrusage(resource.RUSAGE_SELF)
    volume = load_series_folder(folder)
    read_done = time.perf_counter()
    result = quantify_volume(volume)
    finished = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "read_seconds": round(read_done - started, 2),
        "quantify_seconds": round(finished - read_done, 2),
        "total_seconds": round(finished - started, 2),
        # CPU time of this one-core process: close to the wall time on an idle machine, and what
        # the wall time would have been when other work competed for the core.
        "total_cpu_seconds": round(time.process_time() - cpu_started, 2),
        # Its two parts: on this virtual machine the kernel's share is mostly first touches of fresh memory,
        # which cost more or less with what the host does, so it varies most between runs.
        "user_cpu_seconds": round(usage.ru_utime - usage_started.ru_utime, 2),
        "system_cpu_seconds": round(usage.ru_stime - usage_started.ru_stime, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cpu_cores": cores,
        "measured_lung_volume_ml": result.metrics["lung_volume_ml"],
        "measured_haa_percent": result.metrics["haa_percent"],
        "steps": result.timings,
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` from ``/proc/self/status`` where it exists: unlike ``ru_maxrss``, which Linux keeps
    across ``execve``, it does not include the memory of the parent this process was forked from.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.stdout.write(json.dumps(measure(Path(sys.argv[1]))) + "\n")
