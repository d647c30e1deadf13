"""``ildscreen audio score`` and ``ildscreen bench audio`` through click's CliRunner."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audio_models import synthetic
from edge.commands.audio import audio
from edge.commands.bench import bench
from edge.inference.models import ModelRegistry

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def recordings(tmp_path):
    good = tmp_path / "base_left.flac"
    sf.write(good, synthetic.synthesize(np.random.default_rng(0), duration_s=10.0).samples, 4000, format="FLAC")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return good, broken


def test_score_json_lines_keep_going_after_a_bad_file_and_exit_non_zero(recordings):
    good, broken = recordings
    result = CliRunner().invoke(audio, ["score", "--json", str(broken), str(good)])
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.output.strip().splitlines())
    assert first["file"] == str(broken) and "cannot decode" in first["error"] and set(first) == {"file", "error"}
    assert second["file"] == str(good) and 0 <= second["crackle_probability"] <= 1
    assert second["quality"] == {"ok": True, "issues": []} and len(second["windows"]) == 4


def _documented_fields(span: str) -> tuple[set, dict]:
    """Top-level names of a README field list like `{"a", "b": {"c", "d"}}`, and each nested one's names."""
    inner = span.strip()[1:-1]
    nested = {name: set(re.findall(r'"(\w+)"', body)) for name, body in re.findall(r'"(\w+)":\s*\{([^{}]*)\}', inner)}
    return set(re.findall(r'"(\w+)"', re.sub(r"\{[^{}]*\}", "", inner))), nested


def test_the_readme_lists_every_field_of_a_score_json_line(recordings):
    """The README row listed four fields while each line also carried `crackle_detected` and `model`."""
    good, broken = recordings
    result = CliRunner().invoke(audio, ["score", "--json", str(good), str(broken)])
    scored, failed = (json.loads(line) for line in result.output.strip().splitlines())
    row = next(line for line in README.read_text().splitlines() if line.startswith("| `ildscreen audio score"))
    spans = [span for span in re.findall(r"`([^`]*)`", row) if span.startswith("{")]
    assert len(spans) == 2, row
    (fields, nested), (error_fields, _) = (_documented_fields(span) for span in spans)
    assert fields == set(scored) and nested == {"quality": set(scored["quality"])}
    assert error_fields == set(failed)


def test_score_all_good_exits_zero_with_text_output(recordings):
    good, _ = recordings
    result = CliRunner().invoke(audio, ["score", str(good)])
    assert result.exit_code == 0
    assert result.output.startswith(f"{good}: crackle probability ") and "(quality: ok)" in result.output


def test_score_missing_file_is_an_error_line_not_a_traceback(tmp_path):
    result = CliRunner().invoke(audio, ["score", "--json", str(tmp_path / "nope.wav")])
    assert result.exit_code == 1 and json.loads(result.output)["error"].startswith("cannot decode")
    assert "Traceback" not in result.output


def test_score_needs_at_least_one_file():
    result = CliRunner().invoke(audio, ["score"])
    assert result.exit_code == 2 and "Missing argument" in result.output


def test_score_with_a_tampered_model_is_a_click_error(monkeypatch, recordings):
    from audio_models.errors import ModelError
    from edge import auscultation

    def refuse(variant=None):
        raise ModelError("model file x has sha256 abc, manifest says def: refusing to load it")

    monkeypatch.setattr(auscultation, "default_model", refuse)
    result = CliRunner().invoke(audio, ["score", str(recordings[0])])
    assert result.exit_code == 1 and "Error: model file x has sha256 abc" in result.output


def test_bench_audio_json_has_all_timings():
    pytest.importorskip("torch", reason="bench audio times PyTorch eager too")
    result = CliRunner().invoke(bench, ["audio", "--json", "--runs", "3", "--seconds", "8"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("torch_ms", "ort_fp32_ms", "ort_int8_ms", "peak_rss_mb"):
        assert data[key] > 0
    # The windows a screened patient's recording costs: every noisy copy the manifest asks for.
    draws = (ModelRegistry().entry("auscultation").get("input_noise") or {}).get("draws", 1)
    assert data["noisy_copies"] == draws and data["windows"] == 3 * draws and data["threads"] == 1
