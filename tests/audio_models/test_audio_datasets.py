"""Dataset loaders and the fetcher: ICBHI names, cycles and split on the real sample; the
generic CSV loader; mirror import with checksum recording and verification."""

import json
import zipfile

import pytest
from click.testing import CliRunner

from audio_models.datasets import corpus, download, generic, icbhi
from audio_models.errors import DatasetError
from edge.commands.audio import audio


def test_icbhi_sample_loads_with_metadata_and_cycles(icbhi_dir):
    recordings = {r.path.stem: r for r in icbhi.load_icbhi(icbhi_dir)}
    assert sorted(recordings) == ["101_1b1_Al_sc_Meditron", "103_2b2_Ar_mc_LittC2SE", "104_1b1_Ar_sc_Litt3200",
                                  "104_1b1_Ll_sc_Litt3200"]
    ll = recordings["104_1b1_Ll_sc_Litt3200"]
    assert (ll.patient_id, ll.chest_site, ll.device, ll.diagnosis) == ("104", "lateral_left", "Litt3200", "COPD")
    assert len(ll.cycles) == 7 and [c.crackles for c in ll.cycles].count(True) == 1
    assert ll.cycles[4] == icbhi.Cycle(8.8287, 10.396, True, False)
    assert sum(c.wheezes for c in recordings["104_1b1_Ar_sc_Litt3200"].cycles) == 10
    assert recordings["103_2b2_Ar_mc_LittC2SE"].acquisition_mode == "mc"


def test_official_split_file_is_used_when_present(icbhi_dir, tmp_path):
    for path in icbhi_dir.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / icbhi.SPLIT_FILE).write_text("101_1b1_Al_sc_Meditron\ttest\n103_2b2_Ar_mc_LittC2SE\ttrain\n"
                                             "104_1b1_Ar_sc_Litt3200\ttrain\n104_1b1_Ll_sc_Litt3200\ttrain\n")
    recordings = icbhi.load_icbhi(tmp_path)
    assert {r.path.stem: r.split for r in recordings}["101_1b1_Al_sc_Meditron"] == "test"
    assert icbhi.patient_split(recordings)["104_1b1_Ll_sc_Litt3200"] == "train"


def test_patient_split_never_splits_a_patient(icbhi_dir):
    recordings = icbhi.load_icbhi(icbhi_dir)
    for seed in range(5):
        split = icbhi.patient_split(recordings, seed=seed)
        assert split["104_1b1_Ar_sc_Litt3200"] == split["104_1b1_Ll_sc_Litt3200"]


def test_bad_icbhi_inputs_are_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="not an ICBHI 2017 file name: 'recording1'"):
        icbhi.parse_stem("recording1")
    (tmp_path / "bad.txt").write_text("0.1 0.5 0\n")
    with pytest.raises(DatasetError, match="bad.txt:1: expected 'start end crackles wheezes'"):
        icbhi.read_cycles(tmp_path / "bad.txt")
    with pytest.raises(DatasetError, match="no annotated ICBHI recordings"):
        icbhi.load_icbhi(tmp_path)
    with pytest.raises(DatasetError, match="ICBHI folder not found"):
        icbhi.load_icbhi(tmp_path / "absent")


def _generic_folder(tmp_path, rows):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "labels.csv").write_text("file,patient_id,chest_site,device,label\n" + rows)
    return tmp_path


def test_generic_loader_reads_rows(tmp_path):
    folder = _generic_folder(tmp_path, "a.wav,P1,posterior_basal_left,Littmann 3200,crackles\na.wav,P2,trachea,eko,0\n")
    records = generic.load_folder(folder)
    assert [(r.patient_id, r.label) for r in records] == [("P1", 1), ("P2", 0)]


@pytest.mark.parametrize("rows,message", [
    ("a.wav,P1,base,dev,maybe\n", r"labels.csv:2: label must be one of .* got 'maybe'"),
    ("b.wav,P1,base,dev,1\n", r"labels.csv:2: recording not found: .*b.wav"),
    ("", "no rows"),
])
def test_generic_loader_errors_name_the_row(tmp_path, rows, message):
    with pytest.raises(DatasetError, match=message):
        generic.load_folder(_generic_folder(tmp_path, rows))


def test_generic_loader_needs_all_columns(tmp_path):
    (tmp_path / "labels.csv").write_text("file,label\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['patient_id', 'chest_site', 'device'\]"):
        generic.load_folder(tmp_path)


@pytest.fixture
def icbhi_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "ICBHI_final_database.zip", "w") as archive:
        archive.writestr("ICBHI_final_database/101_1b1_Al_sc_Meditron.txt", "0.0 1.0 0 0\n")
    (mirror / "ICBHI_challenge_train_test.txt").write_text("101_1b1_Al_sc_Meditron\ttrain\n")
    return mirror


def test_mirror_import_records_then_verifies_checksums(tmp_path, icbhi_mirror):
    first = download.fetch_dataset("icbhi2017", dest=tmp_path / "data", mirror=icbhi_mirror)
    assert first["checksums"] == "recorded"
    folder = tmp_path / "data" / "icbhi2017"
    assert json.loads((folder / "checksums.json").read_text()) == first["files"]
    assert (folder / "ICBHI_final_database" / "101_1b1_Al_sc_Meditron.txt").is_file()
    assert download.fetch_dataset("icbhi2017", dest=tmp_path / "data", mirror=icbhi_mirror)["checksums"] == "verified"


def test_changed_mirror_file_is_refused(tmp_path, icbhi_mirror):
    download.fetch_dataset("icbhi2017", dest=tmp_path / "data", mirror=icbhi_mirror)
    (icbhi_mirror / "ICBHI_challenge_train_test.txt").write_text("tampered\n")
    with pytest.raises(DatasetError, match="ICBHI_challenge_train_test.txt: sha256 .* does not match the recorded"):
        download.fetch_dataset("icbhi2017", dest=tmp_path / "data", mirror=icbhi_mirror)


def test_mirror_missing_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="mirror has no jwyy9np4gv-3.zip"):
        download.fetch_dataset("kauh2021", dest=tmp_path / "data", mirror=tmp_path / "empty")


def test_download_command_uses_the_mirror(tmp_path, icbhi_mirror):
    result = CliRunner().invoke(audio, ["download", "icbhi2017", "--dest", str(tmp_path / "d"), "--mirror", str(icbhi_mirror)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["checksums"] == "recorded"
    (tmp_path / "empty").mkdir()
    failed = CliRunner().invoke(audio, ["download", "kauh2021", "--dest", str(tmp_path / "d"), "--mirror", str(tmp_path / "empty")])
    assert failed.exit_code == 1 and failed.output.startswith("Error: mirror has no")


def test_generic_rows_carry_age_sex_and_other_sounds_and_a_child_is_reported_apart(tmp_path):
    """The optional columns reach the corpus: a row under 18 years is a child's (the children's operating
    point, reported apart), a row without an age an adult's (the programme's intended use)."""
    folder = tmp_path / "clinic"
    folder.mkdir()
    (folder / "a.wav").write_bytes(b"x")
    (folder / "labels.csv").write_text("file,patient_id,chest_site,device,label,age_y,sex,other_sounds\n"
                                       "a.wav,P1,posterior_basal_left,Eko Core diaphragm,1,71,F,none\n"
                                       "a.wav,P2,posterior_basal_right,Eko Core diaphragm,0,,,\n"
                                       "a.wav,P3,posterior_basal_left,Eko Core diaphragm,0,9.5,M,Wheeze\n")
    adults = corpus.load_corpus(folder, population="adults")
    assert [(r.patient_id, r.age_y, r.sex, r.other_sounds, r.has_fine_crackles) for r in adults] == [
        ("P1", 71.0, "F", "none", True), ("P2", None, "", "unknown", False)]
    children = corpus.load_corpus(folder, population="children")
    assert [(r.patient_id, r.population, r.dataset, r.other_sounds) for r in children] == [
        ("P3", "children", "clinic", "wheeze")]
    # The folder is its own split family, named by the folder (its patients split apart from any other's).
    assert {r.dataset_family for r in adults + children} == {"local:clinic"}


@pytest.mark.parametrize("extra,message", [
    ("old", r"labels.csv:2: age_y must be a number of years, got 'old'"),
    ("130", r"labels.csv:2: age_y must lie between 0 and 120 years, got '130'"),
])
def test_a_malformed_age_names_the_row(tmp_path, extra, message):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "labels.csv").write_text(f"file,patient_id,chest_site,device,label,age_y\na.wav,P1,base,dev,1,{extra}\n")
    with pytest.raises(DatasetError, match=message):
        generic.load_folder(tmp_path)


@pytest.mark.parametrize("rows,message", [
    ("file,patient_id,chest_site,device,label,other_sounds\na.wav,P1,base,dev,1,crackle\n",
     r"labels.csv:2: other_sounds must be one of \['none', 'wheeze', 'other'\], got 'crackle'"),
    ("file,patient_id,chest_site,device,label\na.wav,P1,base, ,1\n", r"labels.csv:2: empty device"),
])
def test_a_malformed_optional_value_or_an_empty_device_names_the_row(tmp_path, rows, message):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "labels.csv").write_text(rows)
    with pytest.raises(DatasetError, match=message):
        generic.load_folder(tmp_path)
