"""SPRSound loader on the real recordings in ../shared/data: counts, annotations, both layouts,
and the mirror import of ``ildscreen audio download sprsound2022``."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audio_models.datasets import download, sprsound
from audio_models.errors import DatasetError
from edge.commands.audio import audio


@pytest.fixture(scope="module")
def recordings(sprsound_dir):
    return sprsound.load_sprsound(sprsound_dir)


def test_the_real_release_loads_with_the_counts_its_readme_gives(recordings):
    assert len(recordings) == 1343
    assert len({r.patient_id for r in recordings}) == 190
    assert sum(r.poor_quality for r in recordings) == 144
    positive = [r for r in recordings if r.has_fine_crackles]
    assert len(positive) == 212 and len({r.patient_id for r in positive}) == 51
    assert sum(len(r.fine_crackle_events) for r in recordings) == 616
    first = recordings[0]
    assert first.path.suffix == ".flac" and first.chest_site in sprsound.LOCATIONS.values()


def test_event_times_are_seconds_whether_stored_as_numbers_or_strings(tmp_path):
    (tmp_path / "1_2.5_1_p3_7.json").write_text(json.dumps({
        "record_annotation": "DAS",
        "event_annotation": [{"start": "1500", "end": "2250", "type": "Fine Crackle"},
                             {"start": 100, "end": 900, "type": "Normal"}]}))
    sf.write(tmp_path / "1_2.5_1_p3_7.wav", np.zeros(8000, dtype=np.int16), 8000, subtype="PCM_16")
    (recording,) = sprsound.load_sprsound(tmp_path)
    assert (recording.patient_id, recording.age_y, recording.sex, recording.chest_site) == ("1", 2.5, "F", "posterior_right")
    assert recording.events == (sprsound.Event(0.1, 0.9, "Normal"), sprsound.Event(1.5, 2.25, "Fine Crackle"))
    assert recording.has_fine_crackles and not recording.poor_quality


@pytest.mark.parametrize("types, expected", [
    ((), "none"), (("Normal", "Fine Crackle"), "none"), (("Wheeze",), "wheeze"), (("Rhonchi", "Normal"), "wheeze"),
    (("Stridor",), "wheeze"), (("Wheeze+Crackle",), "wheeze"), (("Coarse Crackle", "Wheeze"), "coarse crackles"),
])
def test_other_sounds_name_what_else_the_experts_marked(types, expected):
    recording = sprsound.SprsoundRecording(path=None, patient_id="1", age_y=3.0, sex="F", location="p1",
                                           recording_number="1", record_label="DAS",
                                           events=tuple(sprsound.Event(i, i + 0.5, kind) for i, kind in enumerate(types)))
    assert recording.other_sounds == expected


def test_the_official_layout_keeps_audio_and_annotations_in_separate_folders(sprsound_dir, tmp_path):
    for folder in ("train_wav", "train_json"):
        (tmp_path / folder).mkdir()
    name = "40069321_15.3_0_p1_981"
    samples, rate = sf.read(sprsound_dir / "audio" / f"{name}.flac", dtype="int16")
    sf.write(tmp_path / "train_wav" / f"{name}.wav", samples, rate, subtype="PCM_16")
    shutil.copy(sprsound_dir / "annotations" / f"{name}.json", tmp_path / "train_json")
    (recording,) = sprsound.load_sprsound(tmp_path)
    assert recording.path.suffix == ".wav" and recording.poor_quality


@pytest.mark.parametrize("annotation, message", [
    ({"record_annotation": "Great"}, "record_annotation must be one of"),
    ({"record_annotation": "DAS", "event_annotation": [{"start": 5, "end": 1, "type": "Fine Crackle"}]},
     "event 0: need 0 <= start < end"),
    ({"record_annotation": "DAS", "event_annotation": [{"start": 1, "end": 5, "type": "Crackle"}]},
     "event 0: unknown type 'Crackle'"),
    ({"record_annotation": "DAS", "event_annotation": [{"end": 5, "type": "Fine Crackle"}]}, "event 0: needs numeric"),
])
def test_a_malformed_annotation_is_refused_naming_the_file_and_the_problem(tmp_path, annotation, message):
    (tmp_path / "1_2.5_1_p3_7.json").write_text(json.dumps(annotation))
    (tmp_path / "1_2.5_1_p3_7.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match=f"1_2.5_1_p3_7.json: {message}"):
        sprsound.load_sprsound(tmp_path)


def test_a_missing_or_empty_folder_and_a_bad_name_are_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="SPRSound folder not found"):
        sprsound.load_sprsound(tmp_path / "absent")
    with pytest.raises(DatasetError, match="no annotated SPRSound recordings"):
        sprsound.load_sprsound(tmp_path)
    with pytest.raises(DatasetError, match="not an SPRSound file name"):
        sprsound.parse_name("recording1")


def test_mirror_import_copies_the_folder_records_then_verifies_and_refuses_a_changed_file(sprsound_dir, tmp_path):
    mirror = tmp_path / "mirror"
    names = sorted(path.stem for path in (sprsound_dir / "annotations").iterdir())[:3]
    for name in names:
        for sub, suffix in (("audio", ".flac"), ("annotations", ".json")):
            (mirror / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(sprsound_dir / sub / f"{name}{suffix}", mirror / sub)
    result = CliRunner().invoke(audio, ["download", "sprsound2022", "--dest", str(tmp_path / "d"), "--mirror", str(mirror)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"dataset": "sprsound2022", "folder": str(tmp_path / "d" / "sprsound2022"),
                                         "files": 6, "checksums": "recorded"}
    assert len(sprsound.load_sprsound(tmp_path / "d" / "sprsound2022")) == 3
    assert download.fetch_dataset("sprsound2022", dest=tmp_path / "d", mirror=mirror)["checksums"] == "verified"
    (mirror / "annotations" / f"{names[0]}.json").write_text('{"record_annotation": "Normal"}')
    with pytest.raises(DatasetError, match=f"annotations/{names[0]}.json: sha256 .* does not match the recorded"):
        download.fetch_dataset("sprsound2022", dest=tmp_path / "d", mirror=mirror)
