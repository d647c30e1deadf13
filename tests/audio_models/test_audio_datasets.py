"""Dataset loaders and the fetcher: ICBHI names, cycles and split on the real sample; the
generic CSV loader; mirror import (an archive, or an unpacked KAUH or SPRSound copy) with checksum
recording and verification."""

import json
import re
import zipfile

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audio_models.datasets import corpus, download, generic, icbhi, kauh, splits
from audio_models.errors import DatasetError
from common.hashing import sha256_file
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
    # The recorded copy stays: the changed one never replaced it.
    assert (tmp_path / "data" / "icbhi2017" / "ICBHI_challenge_train_test.txt").read_text() == "101_1b1_Al_sc_Meditron\ttrain\n"


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


# An unpacked copy as a mirror (`ildscreen audio download kauh2021|sprsound2022 --mirror FOLDER`): tiny folders
# in the layouts the loaders read, with short generated recordings.
KAUH_HEADER = "recording,patient,filter_mode,diagnosis,sound_label,crackles,location,age_y,sex,sr,dur_s\n"
KAUH_ROWS = ("kauh1_bell.wav,1,bell,heart failure,C,1,P R L,70,M,4000,0.5\n"
             "kauh1_diaphragm.wav,1,diaphragm,heart failure,C,1,P R L,70,M,4000,0.5\n"
             "kauh2_bell.wav,2,bell,n,N,0,P L U,45,F,4000,0.5\n")
SPRSOUND_NAMES = ("1_2.5_1_p3_7", "2_8_0_p1_3")


def _wav(path, rate, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(seed).normal(0, 1000, rate // 2).astype(np.int16), rate, subtype="PCM_16")


def _unpacked_kauh(folder, rows=KAUH_ROWS, header=KAUH_HEADER):
    """The shared copy's layout: recordings.csv and audio/<recording>."""
    folder.mkdir(parents=True)
    (folder / "recordings.csv").write_text(header + rows)
    for number, line in enumerate(KAUH_ROWS.splitlines()):
        _wav(folder / "audio" / line.split(",")[0], 4000, seed=number)
    return folder


def _unpacked_sprsound(folder):
    """The shared copy's layout: audio/<name> and annotations/<name>.json (and a derived table)."""
    for number, name in enumerate(SPRSOUND_NAMES):
        _wav(folder / "audio" / f"{name}.wav", 8000, seed=number)
        (folder / "annotations").mkdir(parents=True, exist_ok=True)
        (folder / "annotations" / f"{name}.json").write_text(json.dumps({
            "record_annotation": "DAS", "event_annotation": [{"start": "100", "end": "300", "type": "Fine Crackle"}]}))
    (folder / "recordings.csv").write_text("recording,record_label\n" + "".join(f"{n}.wav,DAS\n" for n in SPRSOUND_NAMES))
    return folder


UNPACKED = {"kauh2021": (_unpacked_kauh, "adults", 4), "sprsound2022": (_unpacked_sprsound, "children", 5)}


def _without(folder, name):
    (folder / name).unlink()
    return folder


def _download(dataset, dest, mirror):
    return CliRunner().invoke(audio, ["download", dataset, "--dest", str(dest), "--mirror", str(mirror)])


def _tree(folder):
    return {path.relative_to(folder).as_posix(): (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes())
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("dataset", sorted(UNPACKED))
def test_an_unpacked_copy_is_imported_file_by_file_and_the_loaders_read_it(tmp_path, dataset):
    build, population, files = UNPACKED[dataset]
    mirror = build(tmp_path / "mirror")
    result = _download(dataset, tmp_path / "d", mirror)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "d" / dataset
    assert json.loads(result.output) == {"dataset": dataset, "folder": str(folder), "files": files, "checksums": "recorded"}
    recorded = json.loads((folder / "checksums.json").read_text())
    assert len(recorded) == files and recorded == {name: sha256_file(mirror / name) for name in recorded}
    assert all((folder / name).read_bytes() == (mirror / name).read_bytes() for name in recorded)
    # What `ildscreen audio evaluate --data DEST --population ...` reads finds every imported recording.
    found = corpus.load_corpus(tmp_path / "d", population=population)
    assert len(found) == (3 if dataset == "kauh2021" else 2) and {r.population for r in found} == {population}
    assert {r.path.parent.parent for r in found} == {folder}


@pytest.mark.parametrize("dataset", sorted(UNPACKED))
def test_an_unchanged_reimport_writes_nothing_and_a_changed_file_is_refused_by_name(tmp_path, dataset):
    mirror = UNPACKED[dataset][0](tmp_path / "mirror")
    assert _download(dataset, tmp_path / "d", mirror).exit_code == 0
    before = _tree(tmp_path / "d")
    again = _download(dataset, tmp_path / "d", mirror)
    assert again.exit_code == 0 and json.loads(again.output)["checksums"] == "verified"
    assert _tree(tmp_path / "d") == before  # same inodes and times: nothing rewritten, no temporary left
    changed = "audio/kauh2_bell.wav" if dataset == "kauh2021" else "audio/2_8_0_p1_3.wav"
    _wav(mirror / changed, 4000 if dataset == "kauh2021" else 8000, seed=99)
    refused = _download(dataset, tmp_path / "d", mirror)
    assert refused.exit_code == 1 and refused.output.startswith(f"Error: {changed}: sha256 ")
    assert "does not match the recorded" in refused.output
    assert _tree(tmp_path / "d") == before


@pytest.mark.parametrize("dataset, build, message", [
    ("kauh2021", lambda f: _without(_unpacked_kauh(f), "recordings.csv"),
     r"is not an unpacked KAUH copy .*: KAUH table not found: .*recordings.csv"),
    ("kauh2021", lambda f: _unpacked_sprsound(f), r"recordings.csv: missing column\(s\) \['patient', 'filter_mode'"),
    ("kauh2021", lambda f: _unpacked_kauh(f, rows=KAUH_ROWS + "kauh3_bell.wav,3,bell,n,N,0,P L U,50,F,4000,0.5\n"),
     r"recordings.csv:5: recording not found: kauh3_bell.wav"),
    ("kauh2021", lambda f: _unpacked_kauh(f, header=KAUH_HEADER.replace("filter_mode", "mode")),
     r"missing column\(s\) \['filter_mode'\]"),
    ("sprsound2022", lambda f: _unpacked_kauh(f), r"is not an unpacked SPRSound release .*: no annotated SPRSound recordings"),
])
def test_a_folder_that_is_not_the_dataset_is_refused_naming_what_is_missing_and_nothing_is_written(
        tmp_path, dataset, build, message):
    mirror = build(tmp_path / "mirror")
    result = _download(dataset, tmp_path / "d", mirror)
    assert result.exit_code == 1 and result.output.startswith("Error: mirror has no "), result.output
    assert re.search(message, result.output)
    assert not (tmp_path / "d").exists()


def test_a_shared_data_folder_as_the_mirror_gives_each_dataset_its_own_folder(tmp_path):
    """``--mirror ../shared/data``: KAUH from its kauh/, SPRSound from its sprsound2022/, nothing of the other."""
    _unpacked_kauh(tmp_path / "data" / "kauh")
    _unpacked_sprsound(tmp_path / "data" / "sprsound2022")
    for dataset, (_, _, files) in UNPACKED.items():
        result = _download(dataset, tmp_path / "d", tmp_path / "data")
        assert result.exit_code == 0 and json.loads(result.output)["files"] == files, result.output
    assert "audio/kauh1_bell.wav" in json.loads((tmp_path / "d" / "kauh2021" / "checksums.json").read_text())
    assert len(corpus.load_corpus(tmp_path / "d")) == 5


def test_a_first_import_keeps_a_differing_file_already_in_dest(tmp_path):
    mirror = _unpacked_kauh(tmp_path / "mirror")
    (tmp_path / "d" / "kauh2021").mkdir(parents=True)
    (tmp_path / "d" / "kauh2021" / "recordings.csv").write_text("my own table\n")
    result = _download("kauh2021", tmp_path / "d", mirror)
    assert result.exit_code == 1 and "already holds ['recordings.csv']" in result.output
    assert [p.name for p in (tmp_path / "d" / "kauh2021").iterdir()] == ["recordings.csv"]
    assert (tmp_path / "d" / "kauh2021" / "recordings.csv").read_text() == "my own table\n"


def test_the_archive_in_a_mirror_is_still_taken_before_an_unpacked_folder(tmp_path):
    mirror = _unpacked_sprsound(tmp_path / "mirror")
    with zipfile.ZipFile(mirror / "SPRSound-main.zip", "w") as archive:
        for name in SPRSOUND_NAMES:
            archive.write(mirror / "audio" / f"{name}.wav", f"SPRSound-main/train_wav/{name}.wav")
            archive.write(mirror / "annotations" / f"{name}.json", f"SPRSound-main/train_json/{name}.json")
    report = download.fetch_dataset("sprsound2022", dest=tmp_path / "d", mirror=mirror)
    assert report["files"] == {"SPRSound-main.zip": sha256_file(mirror / "SPRSound-main.zip")}
    assert len(corpus.load_corpus(tmp_path / "d", population="children")) == 2


def test_a_data_folder_with_kauh_twice_is_refused_and_a_kauh_folder_without_its_table_names_it(tmp_path):
    _unpacked_kauh(tmp_path / "data" / "kauh")
    (tmp_path / "data" / "kauh2021").mkdir()
    with pytest.raises(DatasetError, match=r"holds kauh/ and kauh2021/: the same patients"):
        corpus.load_corpus(tmp_path / "data")
    (tmp_path / "d" / "kauh2021").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"KAUH table not found: .*kauh2021.recordings.csv"):
        corpus.load_corpus(tmp_path / "d", population="adults")


# The KAUH dataset as published (Mendeley Data jwyy9np4gv, `Audio Files.zip`): a folder of full-length wav files
# named <F>P<patient>_<diagnosis>,<sound code>,<location>,<age>,<sex>, read by the same loader as the copy.
PUBLISHED = ("BP1_Heart Failure,C,P R L,70,M.wav", "DP1_Heart Failure,C,P R L,70,M.wav", "BP2_N,N,P L U,45,F.wav")


def _published_kauh(folder, names=PUBLISHED):
    for number, name in enumerate(names):
        _wav(folder / "Audio Files" / name, 4000, seed=number)
    return folder


def test_the_published_kauh_files_give_the_copys_recordings_patients_and_parts(tmp_path):
    """The same sounds in either layout are the same recordings: patient ids (so the hash split's parts),
    filter modes, labels, chest sites, ages and sexes; names vary in case and spacing."""
    copy = kauh.load_kauh(_unpacked_kauh(tmp_path / "copy"))
    names = ("bP1_heart failure, c ,P  r l ,70,m.wav", "DP01_Heart Failure,C,P R L,70,M.WAV", "BP2_N,n,P L U ,45,F.wav")
    published = kauh.load_kauh(_published_kauh(tmp_path / "published", names))
    fields = ("patient_id", "filter_mode", "device", "sound_label", "crackles", "chest_site", "age_y", "sex",
              "diagnosis", "other_sounds", "dataset_family", "population")

    def seen(recordings):
        return sorted(tuple(getattr(r, field) for field in fields) for r in recordings)

    assert seen(published) == seen(copy)
    for seed in range(3):
        assert splits.patient_split(published, seed=seed) == splits.patient_split(copy, seed=seed)
    assert kauh.is_kauh_folder(tmp_path / "published") and corpus.dataset_folders(tmp_path / "published") == {
        tmp_path / "published": "adults"}


def test_the_published_names_the_copy_lacks_are_read():
    """Shapes of published names the copy holds none of: the face alone, zone before side, a trailing space,
    the bronchial codes (with crackles, positive; alone, negative), a diagnosis holding a comma."""
    cases = {
        "BP7_Lung Fibrosis,Crep,P,90,F.wav": ("posterior", "Crep", True, "lung fibrosis"),
        "DP8_Lung Fibrosis,Crep,A U R,44,M.wav": ("anterior_upper_right", "Crep", True, "lung fibrosis"),
        "EP9_Plueral Effusion,I C B,P L R,81,M.wav": ("posterior_left", "I C B", True, "plueral effusion"),
        "BP10_pneumonia,Bronchial,P R L ,64,M.wav": ("posterior_lower_right", "Bronchial", False, "pneumonia"),
        "BP11_heart failure, copd,I C E W,P L R,65,M.wav": ("posterior_left", "I C E W", True, "heart failure, copd"),
    }
    for name, expected in cases.items():
        recording = kauh.parse_name(name)
        assert (recording.chest_site, recording.sound_label, recording.crackles, recording.diagnosis) == expected, name


@pytest.mark.parametrize("name, message", [
    ("XP3_asthma,N,P L L,50,F.wav", r"XP3_asthma,N,P L L,50,F.wav: not a KAUH file name"),
    ("BP3_asthma,N,P L L,50.wav", r"BP3_asthma,N,P L L,50.wav: not a KAUH file name"),
    ("BP3_asthma,Rhonchi,P L L,50,F.wav", r"BP3_asthma,Rhonchi,P L L,50,F.wav: unknown KAUH sound code 'Rhonchi'"),
    ("BP3_asthma,N,X L L,50,F.wav", r"BP3_asthma,N,X L L,50,F.wav: KAUH location must be A/P"),
    ("BP3_asthma,N,P L L,old,F.wav", r"BP3_asthma,N,P L L,old,F.wav: age must be a number of years, got 'old'"),
    ("BP3_asthma,N,P L L,50,Q.wav", r"BP3_asthma,N,P L L,50,Q.wav: sex must be M or F, got 'Q'"),
    ("bp2_n,n,p l u,45,f.wav", r"patient 2 through the bell filter appears twice: .*BP2_N,N,P L U,45,F.wav and .*bp2_n"),
])
def test_a_published_kauh_name_that_does_not_parse_is_refused_naming_the_file(tmp_path, name, message):
    """Never read as a negative: a name or sound code the loader does not know stops the load."""
    folder = _published_kauh(tmp_path / "published", PUBLISHED + (name,))
    with pytest.raises(DatasetError, match=message):
        kauh.load_kauh(folder)


@pytest.mark.parametrize("row, crackles, logged", [
    ("kauh2_bell.wav,2,bell,n,Q W,1,P L U,45,F,4000,0.5\n", True, None),
    ("kauh2_bell.wav,2,bell,n,N,1,P L U,45,F,4000,0.5\n", True,
     "recordings.csv:4: crackles 1 disagrees with sound_label 'N' (no crackles by the dataset's code)"),
])
def test_the_copys_crackles_column_is_its_label_and_a_disagreeing_code_is_logged(tmp_path, caplog, row, crackles,
                                                                                 logged):
    """The copy's curated ``crackles`` column is taken as the label, never refused: a withheld folder of the same
    copy may carry a code the table lacks, and an evaluation must not stop on it. A known code that disagrees
    with the column is logged (a curation slip shows)."""
    folder = _unpacked_kauh(tmp_path / "copy", rows=KAUH_ROWS.rsplit("kauh2_bell", 1)[0] + row)
    with caplog.at_level("WARNING", logger="audio_models.datasets.kauh"):
        found = {r.path.name: r for r in kauh.load_kauh(folder)}
    assert found["kauh2_bell.wav"].crackles is crackles
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == (1 if logged else 0)
    assert all(warning.endswith(f"/{logged}; the column is used") for warning in warnings)


def test_the_published_kauh_files_as_the_mirror_are_imported_and_read_where_they_were_written(tmp_path):
    mirror = _published_kauh(tmp_path / "KAUH download")
    (mirror / "Data annotation.xlsx").write_bytes(b"not read")
    result = _download("kauh2021", tmp_path / "d", mirror)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files"] == 3
    recorded = json.loads((tmp_path / "d" / "kauh2021" / "checksums.json").read_text())
    assert sorted(recorded) == sorted(f"Audio Files/{name}" for name in PUBLISHED)
    found = corpus.load_corpus(tmp_path / "d", population="adults")
    assert sorted((r.patient_id, r.filter_mode, r.crackles) for r in found) == [
        ("1", "bell", True), ("1", "diaphragm", True), ("2", "bell", False)]


def _mendeley_archive(mirror, inner=True):
    """The archive as Mendeley serves it: the recordings inside another archive, beside the annotation sheet."""
    _published_kauh(tmp := mirror / "build")
    mirror.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(mirror / "jwyy9np4gv-3.zip", "w") as archive:
        if inner:
            with zipfile.ZipFile(tmp / "Audio Files.zip", "w") as audio_files:
                for path in sorted((tmp / "Audio Files").iterdir()):
                    audio_files.write(path, path.name)
            archive.write(tmp / "Audio Files.zip", "Audio Files.zip")
        archive.writestr("Data annotation.xlsx", b"not read")
    return mirror


def test_the_mendeley_archive_is_extracted_with_its_inner_archive_and_the_loader_reads_it(tmp_path):
    report = download.fetch_dataset("kauh2021", dest=tmp_path / "d", mirror=_mendeley_archive(tmp_path / "mirror"))
    assert report["recordings"] == 3 and "next" not in report
    assert len(corpus.load_corpus(tmp_path / "d", population="adults")) == 3


def test_an_archive_the_loader_cannot_read_says_what_to_do_next(tmp_path):
    report = download.fetch_dataset("kauh2021", dest=tmp_path / "d", mirror=_mendeley_archive(tmp_path / "mirror", inner=False))
    assert "recordings" not in report and report["checksums"] == "recorded"
    assert "the loader reads no recordings there" in report["next"] and "--mirror" in report["next"]


# SPRSound's later (test) release is not the 2022 training release `sprsound2022` names.
def _test_release_copy(folder):
    """The converted test release's layout (as ../shared/data/sprsound2022_test): a test_part column."""
    _unpacked_sprsound(folder)
    (folder / "recordings.csv").write_text("recording,test_part,record_label\n"
                                           + "".join(f"{n}.wav,inter,DAS\n" for n in SPRSOUND_NAMES))
    return folder


def _official_layout(folder, json_folders):
    for number, (name, json_folder) in enumerate(zip(SPRSOUND_NAMES, json_folders)):
        _wav(folder / "wav" / f"{name}.wav", 8000, seed=number)
        (folder / json_folder).mkdir(parents=True, exist_ok=True)
        (folder / json_folder / f"{name}.json").write_text(json.dumps({"record_annotation": "Normal", "event_annotation": []}))
    return folder


def _shared_test_release(tmp_path):
    """The shared data folder's layout: the training release beside the test release."""
    _unpacked_sprsound(tmp_path / "data" / "sprsound2022")
    return _test_release_copy(tmp_path / "data" / "sprsound2022_test")


@pytest.mark.parametrize("build, sign, meant", [
    (_shared_test_release, "has a test_part column", "did you mean .*data/sprsound2022\\?"),
    (lambda tmp: _official_layout(tmp / "BioCAS2022", ["test2022_json/inter_test_json", "test2022_json/intra_test_json"]),
     "annotations lie under test2022_json/inter_test_json, test2022_json/intra_test_json", "point --mirror at the training"),
])
def test_a_first_import_of_the_test_release_as_sprsound2022_is_refused(tmp_path, build, sign, meant):
    """Read as sprsound2022 the test release would be labelled the training release (and its intra children's
    later recordings taken for their first ones); the message names the folder and what was probably meant."""
    mirror = build(tmp_path)
    result = _download("sprsound2022", tmp_path / "d", mirror)
    assert result.exit_code == 1, result.output
    assert f"{mirror} holds SPRSound's later test release, not the 2022 training release" in result.output
    assert sign in result.output and re.search(meant, result.output)
    assert not (tmp_path / "d").exists()
    # The training release in the same official layout is still imported.
    training = _official_layout(tmp_path / "train" / "BioCAS2022", ["train2022_json", "train2022_json"])
    result = _download("sprsound2022", tmp_path / "d", training)
    assert result.exit_code == 0 and json.loads(result.output)["files"] == 4, result.output
