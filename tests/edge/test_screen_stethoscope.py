"""``ildscreen screen --stethoscope`` (brief h94, issue 24): a command-line screening names the stethoscope
each ``--audio`` recording went through, as an upload does: one of the clinic's ``stethoscopes`` (the
setting), by the upload's own check (edge.recordings.check_stethoscope), the setting ``upload_stethoscope``
when left out. Anything else is a usage error naming the option and the allowed names before any audio is
read. Each take's stethoscope status (and whether it counts, edge.modalities.stethoscope_counts) is in the
output, in the tablet's words (edge.web.presenters.stethoscope_statement) and in the JSON's ``takes``; when
no take counts the command says why instead of blaming the chest site.

The rule tests give the recordings fixed scores (test_screen_chest_piece's fixtures); one test runs the
shipped crackle model on the real ICBHI recording through the real CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge import auscultation
from edge.auscultation import stethoscope_validation
from edge.cli import cli
from edge.config import load_settings
from edge.web.presenters import stethoscope_statement
from support import REAL_LUNG_SOUND, shared_data_or_skip, trust_test_key
from test_clinic_adult_population import DIAPHRAGM_PASSING, install_devices
from test_screen_chest_piece import CLEAR, CRACKLES, recording, scores, sites_heard  # noqa: F401 (fixtures)
from test_stethoscope import LITTMANN, OTHER, shipped_entry

CLINIC = f'stethoscopes = ["{LITTMANN}", "{OTHER}"]\nupload_stethoscope = "{LITTMANN}"\n'


@pytest.fixture
def data_dir(tmp_path, no_env_settings):
    """A data folder whose config.toml names the clinic's stethoscopes (the screen reads its settings)."""
    def make(config: str = CLINIC):
        folder = tmp_path / "data"
        folder.mkdir(exist_ok=True)
        (folder / "config.toml").write_text(config, encoding="utf-8")
        return str(folder)

    return make


def screen(runner, data_dir: str, *args: str, as_json: bool = True):
    return runner.invoke(cli, ["screen", *(["--json"] if as_json else []), "--age", "67", "--sex", "F", "--ctd", "SSc",
                               "--data-dir", data_dir, *args])


def statement(stethoscope: str, chest_piece: str, *, required: bool = False) -> str:
    """What the tablet says of a take through ``stethoscope`` and ``chest_piece`` with the shipped model."""
    validation = stethoscope_validation(shipped_entry(), stethoscope=stethoscope, chest_piece=chest_piece)
    return stethoscope_statement(validation, "en", require_validated_stethoscope=required)


def test_left_out_the_stethoscope_is_the_upload_setting_and_each_take_says_it_counts(runner, recording, data_dir):
    result = screen(runner, data_dir(), "--chest-piece", "diaphragm", "--audio",
                    f"posterior_left_base={recording('left.wav', CLEAR)}")
    assert sites_heard(result) == {"posterior_left_base": CLEAR}
    [take] = json.loads(result.output)["takes"]
    assert take["chest_site"] == "posterior_left_base" and take["chest_piece"] == "diaphragm"
    assert take["stethoscope"] == LITTMANN
    assert take["stethoscope_validation"]["status"] == "validated" and take["stethoscope_validation"]["counts"] is True
    assert take["stethoscope_validation"]["statement"] == statement(LITTMANN, "diaphragm")


def test_a_take_through_an_unvalidated_stethoscope_is_said_not_to_count_and_leaves_the_risk(runner, recording,
                                                                                              data_dir):
    left, right = recording("left.wav", CLEAR), recording("right.wav", CRACKLES)
    args = ["--chest-piece", "diaphragm", "--audio", f"posterior_left_base={left}", "--stethoscope", LITTMANN,
            "--audio", f"posterior_right_base={right}", "--stethoscope", OTHER]
    result = screen(runner, data_dir(), *args)
    assert sites_heard(result) == {"posterior_left_base": CLEAR}  # the crackles through OTHER are not heard
    takes = json.loads(result.output)["takes"]
    assert [take["stethoscope"] for take in takes] == [LITTMANN, OTHER]
    assert [take["stethoscope_validation"]["counts"] for take in takes] == [True, False]
    assert takes[1]["stethoscope_validation"]["status"] == "not_validated"
    summary = screen(runner, data_dir(), *args, as_json=False)
    assert summary.exit_code == 0, summary.output
    assert f"take 2 (posterior_right_base, {OTHER}): {statement(OTHER, 'diaphragm')}" in summary.output


def test_when_the_programme_requires_a_named_stethoscope_an_unnamed_take_is_refused_saying_why(runner, recording,
                                                                                                 data_dir):
    folder = data_dir(f'stethoscopes = ["{LITTMANN}"]\nevidence_require_validated_stethoscope = true\n')
    left = recording("left.wav", CRACKLES)
    result = screen(runner, folder, "--audio", f"posterior_left_base={left}")
    assert result.exit_code == 1 and "Traceback" not in result.output
    # Before, the command blamed the site ("no recording from a lung site") and said nothing of the stethoscope.
    assert "no lung site heard" in result.output
    assert statement("not_stated", "not_stated", required=True) in " ".join(result.output.split())
    named = screen(runner, folder, "--audio", f"posterior_left_base={left}", "--stethoscope", LITTMANN,
                   "--chest-piece", "diaphragm")
    assert sites_heard(named) == {"posterior_left_base": CRACKLES}


@pytest.mark.parametrize(("config", "given", "named"), [
    (CLINIC, "Littman 3200", f"did you mean '{LITTMANN}'?"),
    (CLINIC, "Acme", f"expected one of ['{OTHER}', '{LITTMANN}', 'not_stated']"),
    ("", LITTMANN, "expected one of ['not_stated']"),  # a clinic that names none takes none
    (CLINIC, "<b>Littmann</b>", "must be letters, digits"),
])
def test_a_stethoscope_outside_the_clinics_list_is_refused_naming_the_option_before_any_audio_is_read(
        runner, recording, data_dir, monkeypatch, config, given, named):
    left = recording("left.wav", CLEAR)
    monkeypatch.setattr(auscultation, "score_recording",
                        lambda *args, **kwargs: pytest.fail("the audio was read before the stethoscope was checked"))
    result = screen(runner, data_dir(config), "--audio", f"posterior_left_base={left}", "--stethoscope", given)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--stethoscope" in result.output and named in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--stethoscope", LITTMANN, "--stethoscope", OTHER], "got 2 for 3 recording(s)"),
    (["--stethoscope", LITTMANN, "--stethoscope", OTHER, "--stethoscope", "Acme"], "unknown stethoscope 'Acme'"),
])
def test_one_stethoscope_per_recording_or_one_for_all(runner, recording, data_dir, args, message):
    audio = [arg for index in range(3) for arg in ("--audio", f"posterior_left_base={recording(f'{index}.wav', CLEAR)}")]
    result = screen(runner, data_dir(), *audio, *args)
    assert result.exit_code == 2 and "--stethoscope" in result.output and message in result.output


def test_a_stethoscope_without_a_recording_is_refused(runner, data_dir):
    result = screen(runner, data_dir(), "--stethoscope", LITTMANN)
    assert result.exit_code == 2 and "add --audio" in result.output and "--stethoscope" in result.output


def test_the_shipped_model_scores_a_real_littmann_recording_named_as_such(runner, data_dir):
    """No fixed scores: the real model, the real recording (ICBHI, through a Littmann 3200), the real CLI."""
    wav = shared_data_or_skip(REAL_LUNG_SOUND, "the real ICBHI recording")
    result = screen(runner, data_dir(), "--chest-piece", "diaphragm", "--stethoscope", LITTMANN,
                    "--audio", f"posterior_left_base={wav}")
    assert set(sites_heard(result)) == {"posterior_left_base"}
    [take] = json.loads(result.output)["takes"]
    assert take["stethoscope_validation"]["status"] == "validated"
    # The statement is the served model's: the one that scored the take (its label without the variant).
    served = json.loads(result.output)["model_versions"]["auscultation"]
    assert served.startswith(take["stethoscope_validation"]["model_version"] + "-")


def test_when_no_lung_site_is_heard_the_error_names_why_each_take_was_left_out(runner, recording, data_dir, tmp_path):
    """Every reason, not only the stethoscope's (h107): crackles through a chest piece whose own figures fail the
    rule while the adults' pass (the bell, in a bundle where only the diaphragm's pass), a take through a stethoscope
    no adults' validation went through, and a clear take through a piece that cannot rule crackles out."""
    folder = data_dir()
    trust_test_key(Path(folder))
    install_devices(runner, load_settings(data_dir=folder), tmp_path / "bundle", {"diaphragm": DIAPHRAGM_PASSING})
    result = screen(runner, folder, "--audio", f"posterior_left_base={recording('bell.wav', CRACKLES)}",
                    "--chest-piece", "bell", "--stethoscope", LITTMANN,
                    "--audio", f"posterior_right_base={recording('other.wav', CLEAR)}",
                    "--chest-piece", "diaphragm", "--stethoscope", OTHER,
                    "--audio", f"lateral_left_base={recording('unnamed.wav', CLEAR)}",
                    "--chest-piece", "bell", "--stethoscope", "not_stated")
    assert result.exit_code == 1 and "Traceback" not in result.output
    output = " ".join(result.output.split())
    assert "no lung site heard" in output
    assert "posterior_left_base: " in output and "through Littmann 3200 (Bell) alone, the model has been tested on " \
        "too few patients" in output
    assert f"posterior_right_base: {statement(OTHER, 'diaphragm')}" in output
    assert "lateral_left_base: found no crackles, but through the bell, a chest piece that cannot rule them out" in output


def test_the_screen_judges_each_take_by_the_programmes_validation_rule(runner, recording, data_dir, tmp_path):
    """``ildscreen screen`` reads the configured ``evidence_validation_rule``, as the service does (h117 checked it:
    it already did; this guards it). Under the default rule the bell's own figures fail while the adults' pass, so
    crackles through the bell leave no site heard; a programme asking more patients than the adults have leaves
    the adults failing, so no device is judged apart: the same take is heard and lung sounds are not counted for
    the adults' reason, and its stethoscope line says it counts."""
    args = ("--audio", f"posterior_left_base={recording('bell.wav', CRACKLES)}", "--chest-piece", "bell",
            "--stethoscope", LITTMANN)
    folder = data_dir()
    trust_test_key(Path(folder))
    install_devices(runner, load_settings(data_dir=folder), tmp_path / "bundle", {"diaphragm": DIAPHRAGM_PASSING})
    refused = screen(runner, folder, *args)
    assert refused.exit_code == 1 and "through Littmann 3200 (Bell) alone" in " ".join(refused.output.split())

    with open(Path(folder) / "config.toml", "a", encoding="utf-8") as config:
        config.write("evidence_validation_rule = { min_patients = 100 }\n")
    result = screen(runner, folder, *args)
    assert sites_heard(result) == {"posterior_left_base": CRACKLES}
    output = json.loads(result.output)
    assert output["contributions"]["auscultation"]["reason_code"] == "too_few"
    [take] = output["takes"]
    assert (take["stethoscope_validation"]["device_counts"], take["stethoscope_validation"]["counts"]) == (True, True)
