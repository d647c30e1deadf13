"""``ildscreen screen --chest-piece`` (brief h46): a command-line screening says which chest piece each
``--audio`` recording went through, and the chest-piece rule then decides its risk exactly as it
decides a visit's (edge.modalities.counts_for_its_site): a clear recording through the bell does not
make its site heard, crackles found through it still count. The piece is given once for all
recordings or once per recording; anything else is a one-line error naming what is wrong.

The crackle model is replaced by fixed scores (clear 0.001, crackles 0.999), so what is tested is
the rule, not where the shipped model puts a given recording."""
from __future__ import annotations

import json

import pytest

from edge.cli import cli
from edge.commands import screen as screen_command
from edge.vocabulary import CHEST_PIECES
from edge.web.i18n import CATALOG
from support import lung_sound_bytes
from test_stethoscope import LITTMANN

CLEAR, CRACKLES = 0.001, 0.999
STAMP = {"name": "auscultation", "version": "test", "variant": "fp32", "synthetic": False}


@pytest.fixture
def scores(monkeypatch):
    """The crackle probability each recording file is given, by file name."""
    by_file: dict[str, float] = {}

    def fixed_score(path, *, chest_site, backend, limits):
        return {"chest_site": chest_site, "crackle_probability": by_file[path.rsplit("/", 1)[-1]],
                "quality": {"ok": True, "issues": []}, "model": STAMP}

    monkeypatch.setattr(screen_command, "default_model", lambda: object())
    monkeypatch.setattr(screen_command, "score_recording", fixed_score)
    return by_file


@pytest.fixture
def recording(tmp_path, scores):
    """A recording file scored ``probability``; returns its path."""
    def make(name: str, probability: float) -> str:
        path = tmp_path / name
        path.write_bytes(lung_sound_bytes())
        scores[name] = probability
        return str(path)

    return make


def run_screen(runner, *args: str):
    return runner.invoke(cli, ["screen", "--json", "--age", "67", "--sex", "F", "--ctd", "SSc", *args])


def sites_heard(result) -> dict:
    """The sites the risk heard (site -> crackle probability), from the command's JSON."""
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["contributions"]["auscultation"]["finding"]["sites"]


def test_one_piece_per_recording_leaves_the_clear_bell_base_unheard_and_keeps_bell_crackles(runner, recording):
    bell_clear, diaphragm_clear = recording("left.wav", CLEAR), recording("right.wav", CLEAR)
    bell_crackles = recording("lateral.wav", CRACKLES)
    result = run_screen(runner, "--audio", f"posterior_left_base={bell_clear}", "--chest-piece", "bell",
                        "--audio", f"posterior_right_base={diaphragm_clear}", "--chest-piece", "diaphragm",
                        "--audio", f"lateral_left_base={bell_crackles}", "--chest-piece", "bell")
    # The clear bell base is not heard at all (as on the tablet), never a "clear" site.
    assert sites_heard(result) == {"posterior_right_base": CLEAR, "lateral_left_base": CRACKLES}


def test_without_a_piece_every_recording_is_not_stated_and_counts_as_before(runner, recording):
    left, right = recording("left.wav", CLEAR), recording("right.wav", CLEAR)
    result = run_screen(runner, "--audio", f"posterior_left_base={left}", "--audio", f"posterior_right_base={right}")
    assert sites_heard(result) == {"posterior_left_base": CLEAR, "posterior_right_base": CLEAR}


def test_one_piece_applies_to_every_recording_and_several_takes_of_a_site_are_all_kept(runner, recording):
    first, second = recording("first.wav", CLEAR), recording("second.wav", CRACKLES)
    result = run_screen(runner, "--chest-piece", "diaphragm", "--audio", f"posterior_left_base={first}",
                        "--audio", f"posterior_left_base={second}")
    assert sites_heard(result) == {"posterior_left_base": CRACKLES}  # the maximum, as for a visit's takes


def test_only_clear_bell_recordings_are_refused_saying_why_and_what_to_do(runner, recording):
    left, right = recording("left.wav", CLEAR), recording("right.wav", CLEAR)
    result = run_screen(runner, "--chest-piece", "bell", "--audio", f"posterior_left_base={left}",
                        "--audio", f"posterior_right_base={right}")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "no lung site heard" in result.output and "bell" in result.output
    # What to record through: the shipped adults' devices that count, less the bell (as the tablet says it).
    assert CATALOG["record_again_can_clear_one"]["en"].format(
        devices=f"{LITTMANN} (Diaphragm, Extended filter)") in result.output


@pytest.mark.parametrize(("pieces", "message"), [
    (["--chest-piece", "stethoscope"], "'stethoscope' is not one of"),
    (["--chest-piece", "bell", "--chest-piece", "diaphragm"], "got 2 for 3 recording(s)"),
])
def test_a_wrong_piece_or_count_is_a_one_line_error_naming_it(runner, recording, pieces, message):
    audio = [arg for index in range(3)
             for arg in ("--audio", f"posterior_left_base={recording(f'{index}.wav', CLEAR)}")]
    result = run_screen(runner, *audio, *pieces)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    if "stethoscope" in pieces:
        assert all(piece in result.output for piece in CHEST_PIECES)  # the accepted words are listed


def test_a_piece_without_a_recording_is_refused(runner):
    result = run_screen(runner, "--chest-piece", "bell")
    assert result.exit_code == 2 and "add --audio" in result.output
