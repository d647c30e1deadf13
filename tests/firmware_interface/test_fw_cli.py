"""``ildscreen device`` commands against real simulators; errors are one line, never a traceback."""

import json
import os
import pathlib
import re
import subprocess
import sys
import wave

import numpy as np
import pytest
from click.testing import CliRunner

import edge
from edge.cli import cli
from edge.commands.device import device
from edge.devices import enose_reading_csv
from edge.errors import DeviceUnavailable
from firmware_interface import CaptureReport, DeviceKind, EnoseReading, FaultPlan, Phase, SimulatedDevice
from firmware_interface.link import LinkStats
from firmware_interface.messages import Info
from firmware_interface.wav import pcm_to_wav_bytes

from fw_helpers import noise_pcm


def test_info_prints_the_board_as_json(start_sim):
    sim = start_sim(SimulatedDevice(DeviceKind.ENOSE, n_sensors=3))
    result = CliRunner().invoke(device, ["info", sim.port])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["device_kind"] == "enose" and len(info["sensors"]) == 3 and info["calibration_date"] == "2026-01-15"


def test_status_reports_faults(start_sim):
    sim = start_sim(SimulatedDevice(DeviceKind.ENOSE, faults=FaultPlan(sensor_fault=True)))
    result = CliRunner().invoke(device, ["status", sim.port])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["faults"] == ["sensor_fault"]


def test_missing_port_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(device, ["info", str(tmp_path / "nothing"), "--connect-timeout", "0.2"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "not reachable" in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1


def test_capture_writes_a_bit_exact_wav_and_metadata(tmp_path, start_sim):
    source = noise_pcm(8000)
    sim = start_sim(SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=source, sample_rate_hz=4000))
    out = tmp_path / "site.wav"
    result = CliRunner().invoke(device, ["capture", sim.port, "--out", str(out), "--seconds", "2"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == pcm_to_wav_bytes(source, 4000)
    assert json.loads((tmp_path / "site.wav.json").read_text())["complete"] is True


def test_an_enose_capture_is_a_breath_reading_that_breath_score_scores(tmp_path, start_sim):
    """README: capture from the e-nose, then `ildscreen breath score` the file (as the tablet's upload
    reads it). The board's own table (resistances by sensor name, `time_s`) was refused, and a 10 s
    baseline came out a sample short of the breath model's minimum."""
    sim = start_sim(SimulatedDevice(DeviceKind.ENOSE))
    out = tmp_path / "breath.csv"
    result = CliRunner().invoke(device, ["capture", sim.port, "--out", str(out)])
    assert result.exit_code == 0, result.output
    scored = CliRunner().invoke(cli, ["breath", "score", "--json", "--data-dir", str(tmp_path / "data"), str(out)])
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.output)
    assert report["quality"]["ok"] is True and 0.0 <= report["probability"] <= 1.0
    assert json.loads((tmp_path / "breath.csv.json").read_text())["device"]["device_kind"] == "enose"


def test_an_enose_capture_kept_with_gaps_is_the_boards_own_table(tmp_path, start_sim):
    """--allow-gaps keeps what arrived; samples of no phase fit no breath reading, so the board's table
    is written and the command says it is not one."""
    sim = start_sim(SimulatedDevice(DeviceKind.ENOSE, faults=FaultPlan(drop_every=50)))
    out = tmp_path / "gappy.csv"
    result = CliRunner().invoke(device, ["capture", sim.port, "--out", str(out), "--allow-gaps", "--baseline", "5",
                                         "--exposure", "5", "--purge", "5"])
    assert result.exit_code == 0, result.output
    assert "WITH GAPS: the board's own table" in result.output
    assert out.read_text().startswith("time_s,phase,") and ",unknown," in out.read_text()


def _reading(phase):
    """Three samples of a two-sensor board (resistances in kOhm), every value exact in float32."""
    info = Info(DeviceKind.ENOSE, "ENOSE-T1", "1.0.0", "2026-01-15", (2,), ("TGS2600", "TGS2602"))
    report = CaptureReport(capture_id=1, device_start_us=None, gaps=(), duplicates_dropped=0, reordered_blocks=0,
                           conflicting_blocks=0, stale_frames=0, device_errors=(), link=LinkStats())
    return EnoseReading(values=np.array([[12.5, 40.0], [3.25, 7.0], [9.0, 30.5]], dtype=np.float32),
                        temperature_c=np.array([33.1, 33.2, 33.3], dtype=np.float32),
                        humidity_pct=np.array([44.8, 80.25, 50.0], dtype=np.float32),
                        pressure_hpa=np.array([1013.2, 1013.25, 1013.3], dtype=np.float32),
                        phase=np.array(phase, dtype=np.uint8), sample_rate_hz=2, device=info, report=report)


def test_the_two_files_of_an_enose_capture_are_fixed_text():
    """Golden output of both writers (the text written before they were given one home each): the
    breath reading (ADC counts = 4095 * 10 / (10 + R) by sensor number) and the board's own table."""
    assert enose_reading_csv(_reading([Phase.BASELINE, Phase.EXPOSURE, Phase.PURGE])) == (
        "t_s,phase,sensor_1,sensor_2,temperature_c,humidity_pct,pressure_hpa\n"
        "0.000,baseline,1820.00,819.00,33.10,44.80,1013.20\n"
        "0.500,exposure,3090.57,2408.82,33.20,80.25,1013.25\n"
        "1.000,purge,2155.26,1011.11,33.30,50.00,1013.30\n")
    assert _reading([Phase.BASELINE, Phase.UNKNOWN, Phase.PURGE]).to_board_csv() == (
        "time_s,phase,temperature_c,humidity_pct,pressure_hpa,TGS2600,TGS2602\n"
        "0.0,baseline,33.099998474121094,44.79999923706055,1013.2000122070312,12.5,40.0\n"
        "0.5,unknown,33.20000076293945,80.25,1013.25,3.25,7.0\n"
        "1.0,purge,33.29999923706055,50.0,1013.2999877929688,9.0,30.5\n")


def test_a_sample_of_no_phase_is_no_breath_reading():
    with pytest.raises(DeviceUnavailable, match="unknown phase at index 1"):
        enose_reading_csv(_reading([Phase.BASELINE, Phase.UNKNOWN, Phase.PURGE]))


def test_each_command_is_a_new_host_session_the_board_answers(start_sim):
    """Every `ildscreen device` command opens the port anew and numbers its commands from 0: the board
    must not drop them as duplicates of the previous command's (the third command on one board went
    unanswered)."""
    sim = start_sim(SimulatedDevice(DeviceKind.ENOSE))
    for command in ("info", "status", "info", "status", "info"):
        result = CliRunner().invoke(device, [command, sim.port, "--connect-timeout", "2"])
        assert result.exit_code == 0, f"{command}: {result.output}"


def test_capture_failure_is_a_one_line_error(tmp_path, start_sim):
    sim = start_sim(SimulatedDevice(DeviceKind.STETHOSCOPE, pcm=noise_pcm(8000), faults=FaultPlan(drop_every=3)))
    result = CliRunner().invoke(device, ["capture", sim.port, "--out", str(tmp_path / "x.wav"), "--seconds", "2"])
    assert result.exit_code == 1 and "capture incomplete" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.wav").exists()


def test_simulate_refuses_a_stereo_wav(tmp_path):
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(4000)
        wav.writeframes(bytes(8))
    result = CliRunner().invoke(device, ["simulate", "--kind", "stethoscope", "--wav", str(path), "--run-for", "0.1"])
    assert result.exit_code == 1 and "expected mono" in result.output


@pytest.mark.slow
def test_simulate_serves_a_board_another_process_can_capture_from(tmp_path):
    """The real command in its own process; this process connects to the printed port."""
    wav_path = tmp_path / "source.wav"
    source = noise_pcm(12000, seed=5)
    wav_path.write_bytes(pcm_to_wav_bytes(source, 4000))
    command = [sys.executable, "-c", "from edge.commands.device import device; device()",
               "simulate", "--kind", "stethoscope", "--wav", str(wav_path), "--speed", "0", "--run-for", "20"]
    repo_root = str(pathlib.Path(edge.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo_root, os.environ.get("PYTHONPATH")]))}
    simulator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = simulator.stdout.readline()
        port = re.search(r" on (\S+)$", line.strip()).group(1)
        out = tmp_path / "captured.wav"
        result = CliRunner().invoke(device, ["capture", port, "--out", str(out), "--seconds", "3"])
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == wav_path.read_bytes()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    # SIGTERM shuts the simulator down cleanly: its port symlink is gone.
    assert simulator.returncode == 0 and not os.path.lexists(port)
