"""Training reads a clinic's labelled folder (``labels.csv``, ``ildscreen audio export-labelled``) beside the
shared data: the folder is a split family of its own (a patient's part follows its pseudonym alone), its
train patients train as whole recordings, its test patients are a population of their own in the manifest
that ``ildscreen audio evaluate --part test`` reproduces; bad folders are refused before anything trains;
without such a folder the shared data's split is the shipped one."""

import csv
import datetime
import hashlib
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from audio_models import validation
from audio_models.datasets import corpus, generic, kauh, splits
from audio_models.errors import DatasetError
from common.hashing import sha256_file
from edge.cli import cli
from edge.commands.audio import audio
from edge.inference.bundles import selected_registry
from support import ANOTHER_DAY, SHARED_DATA, edit_manifest, model_bundle, on_another_day, trust_test_key

pytest.importorskip("torch", reason="training needs the training extra (torch)")
import torch  # noqa: E402

from audio_models import export, train  # noqa: E402

FAMILY = generic.family_of("clinic")
#: Children of SPRSound 2022 whose part is train at seed 0: two with fine crackles, two without.
CHILDREN_RECORDINGS = 2


def pseudonyms(wanted, *, seed=0, fractions=splits.LABELLED_FRACTIONS, family=FAMILY, start=0):
    """``{part: [pseudonym, ...]}`` with ``wanted[part]`` pseudonyms each, found by their hash (a clinic's
    pseudonyms are HMACs; these are sha256 hex digests of a counter)."""
    found, n = {part: [] for part in splits.PARTS}, start
    while any(len(found[part]) < wanted.get(part, 0) for part in splits.PARTS):
        pseudonym = hashlib.sha256(f"pseudonym-{n}".encode()).hexdigest()[:16]
        part = splits.part_of(splits.patient_key(family, pseudonym), seed=seed, fractions=fractions)
        if len(found[part]) < wanted.get(part, 0):
            found[part].append(pseudonym)
        n += 1
    return found


def kauh_patients(kauh_dir):
    """KAUH's patients with crackles and without, each with its diaphragm and extended recordings."""
    with open(kauh_dir / "recordings.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["filter_mode"] != "bell"]
    by_patient = {}
    for row in rows:
        by_patient.setdefault(row["patient"], []).append(row)
    positive = sorted(p for p, members in by_patient.items() if any(r["crackles"] == "1" for r in members))
    negative = sorted(p for p in by_patient if p not in positive)
    return by_patient, positive, negative


def write_clinic(kauh_dir, folder, assignment, *, shuffle=False):
    """A generic folder (``labels.csv``) of KAUH recordings, each patient under its pseudonym:
    ``assignment`` is ``{pseudonym: KAUH patient}``. Returns ``folder``."""
    by_patient, _, _ = kauh_patients(kauh_dir)
    folder.mkdir(parents=True)
    rows = []
    for pseudonym, patient in assignment.items():
        for row in by_patient[patient]:
            name = f"take-{len(rows) + 1:05d}.flac"
            shutil.copy(kauh_dir / "audio" / row["recording"], folder / name)
            rows.append([name, pseudonym, kauh.chest_site(row["location"]), f"Littmann 3200 {row['filter_mode']}",
                         "yes" if row["crackles"] == "1" else "no", int(float(row["age_y"])), row["sex"]])
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "patient_id", "chest_site", "device", "label", "age_y", "sex"])
        writer.writerows(reversed(rows) if shuffle else rows)
    return folder


def clinic_assignment(kauh_dir, *, per_class=splits.MIN_PART_PATIENTS, start=0):
    """``{pseudonym: KAUH patient}``: ``per_class`` patients with crackles and as many without in each part."""
    _, positive, negative = kauh_patients(kauh_dir)
    ids = pseudonyms({part: 2 * per_class for part in splits.PARTS}, start=start)
    assignment = {}
    for index, part in enumerate(splits.PARTS):
        pos, neg = positive[index * per_class:], negative[index * per_class:]
        for pseudonym, patient in zip(ids[part], pos[:per_class] + neg[:per_class]):
            assignment[pseudonym] = patient
    return assignment


@pytest.fixture(scope="module")
def children_dir(tmp_path_factory):
    """A small SPRSound 2022 release: children of the train part (two with fine crackles, two without)."""
    source = SHARED_DATA / "sprsound2022"
    if not source.is_dir():
        pytest.skip("SPRSound 2022 is not in ../shared/data")
    from audio_models.datasets.sprsound import load_sprsound

    recordings = [r for r in load_sprsound(source) if not r.poor_quality
                  and splits.part_of(splits.patient_key("sprsound", r.patient_id), seed=0,
                                     fractions=splits.FRACTIONS["sprsound"]) == "train"]
    chosen = {}
    for wanted in (True, False):
        for r in recordings:
            if r.has_fine_crackles == wanted and len({p for p, c in chosen.items() if c == wanted}) < 2:
                chosen.setdefault(r.patient_id, wanted)
    folder = tmp_path_factory.mktemp("children") / "sprsound2022"
    folder.mkdir()
    for patient in chosen:
        for r in [r for r in recordings if r.patient_id == patient][:CHILDREN_RECORDINGS]:
            shutil.copy(r.path, folder / r.path.name)
            shutil.copy(source / "annotations" / f"{r.name}.json", folder / f"{r.name}.json")
    return folder


@pytest.fixture(scope="module")
def trained(children_dir, kauh_dir, tmp_path_factory):
    """A tiny training run (2 steps) on the small release and a clinic's folder, into a copy of the bundle."""
    base = tmp_path_factory.mktemp("run")
    clinic = write_clinic(kauh_dir, base / "clinic", clinic_assignment(kauh_dir))
    bundle = model_bundle(base / "bundle")
    train.main(["--data", str(children_dir), "--data", str(clinic), "--out", str(bundle), "--steps", "2",
                "--threads", "1", "--icbhi"])
    return clinic, bundle


def test_a_clinics_folder_is_a_population_of_its_own_with_its_test_patients_hash(trained):
    clinic, bundle = trained
    entry = json.loads((bundle / "manifest.json").read_text())["models"]["auscultation"]
    split = entry["training_data"]["split"]
    assert split["fractions"][FAMILY] == list(splits.LABELLED_FRACTIONS)
    recordings = generic.load_folder(clinic)
    test = splits.select(recordings, "test", seed=0, fractions={FAMILY: splits.LABELLED_FRACTIONS})
    own = entry["validation"]["populations"]["adults_clinic"]
    assert own["test_patients_sha256"] == splits.part_digest(test) == split["test_patients_sha256"]["adults_clinic"]
    assert (own["patients"], own["positive_patients"]) == (4, 2)
    assert own["devices"] == ["Littmann 3200 diaphragm", "Littmann 3200 extended"]
    assert "--data PATH/clinic --part test" in own["reproduce"]
    by_device = entry["metrics"]["test"]["populations"]["adults_clinic"]["subgroups"]["patient_by_device"]
    assert set(by_device) == set(own["devices"])
    # Its train patients trained the weights (as whole recordings); the statement says so.
    assert entry["training_data"]["parts"]["train"]["adults_clinic"]["patients"] == 4
    statement = entry["validation_status"]["statement"]
    assert "trained on children (SPRSound) and on the labelled takes of folder(s) clinic" in statement
    assert "on 4 held-out adults of labelled folder clinic (2 with crackles" in statement
    assert "no held-out children" in statement  # this tiny run's children all trained
    assert "adults" not in entry["validation"]["populations"]  # no KAUH here: the clinic's adults are not KAUH's
    # Only what was used is named: the clinic's validation adults chose the adult threshold, KAUH's did not.
    assert "its adult threshold chosen on other adults (the validation patients of labelled folder(s) clinic)" in statement
    assert "KAUH" not in statement and "heart failure" not in statement and "not yet validated in adults" not in statement
    # So do the training records: who trained the weights and chose the thresholds, the calibration, the data
    # sets cited. This run read one SPRSound release and the clinic's folder; no KAUH adult, no held-out child.
    assert entry["validation_status"]["training_population"] == entry["training_data"]["population"] == (
        f"{CLINIC_TRAINED}; the validation patients of labelled folder(s) clinic the network never saw chose the adult "
        "operating point")
    assert entry["calibration"]["fitted_on"] == ("validation patients of labelled folder clinic (4 patients, 8 recordings), "
                                                 "not used in training")
    assert ("each population's validation patients apart (adults: the validation patients of labelled folder(s) clinic; "
            "children: none)") in entry["threshold_chosen_on"]
    assert list(entry["training_data"]["datasets"]) == ["SPRSound 2022 (release sprsound2022)", "labelled folder clinic"]
    described = {key: value for key, value in entry.items() if key not in ("metrics", "validation")}
    assert "KAUH" not in json.dumps(described) and "both releases" not in json.dumps(described)


#: Who trained the weights in the tiny runs here: the small SPRSound release and the clinic's folder.
CLINIC_TRAINED = ("children aged 0.2-16 years (SPRSound 2022, release sprsound2022; one stethoscope) and the patients "
                  "of labelled folder(s) clinic (a clinician's crackle label per recording, trained as whole recordings)")


def test_the_training_records_name_kauh_only_when_its_adults_were_read(children_dir, kauh_dir, tmp_path):
    """Beside KAUH, its validation adults and the clinic's chose the adult operating point; without any
    adult, none is named; the data sets cited are the ones read."""
    clinic = write_clinic(kauh_dir, tmp_path / "clinic", clinic_assignment(kauh_dir))
    parts, _ = train.load_split([children_dir, kauh_dir, clinic], seed=0)
    assert export.training_population(parts) == (
        f"{CLINIC_TRAINED}; no KAUH adult trained the weights: {export.KAUH_ADULTS} and the validation patients of "
        "labelled folder(s) clinic the network never saw chose the adult operating point")
    assert list(export.dataset_citations([r for part in parts.values() for r in part])) == [
        "SPRSound 2022 (release sprsound2022)", "KAUH lung sounds", "labelled folder clinic"]

    children, _ = train.load_split([children_dir], seed=0)
    assert export.training_population(children) == (
        "children aged 0.2-16 years (SPRSound 2022, release sprsound2022; one stethoscope)")
    assert list(export.dataset_citations(children["train"])) == ["SPRSound 2022 (release sprsound2022)"]


# Before the tests that edit the trained bundle's manifest: it compares against that bundle as trained.
def test_a_reissue_from_the_same_weights_on_another_day_is_byte_identical(trained, children_dir, tmp_path, monkeypatch):
    """README, Reproducibility: ``--reuse-weights`` rebuilds the ONNX files, the eval JSON and the manifest
    byte for byte, on any day: ``created`` is the date the weights were made, not the day of the re-issue."""
    clinic, bundle = trained
    again = shutil.copytree(bundle, tmp_path / "again")
    weights = again / "auscultation.pt"
    later = datetime.datetime.combine(ANOTHER_DAY, datetime.time(12), datetime.timezone.utc).timestamp()
    os.utime(weights, (later, later))  # a clone checked out on another day
    on_another_day(monkeypatch)
    # Another --steps: the re-issue records the steps the weights were trained with, as their entry says.
    train.main(["--data", str(children_dir), "--data", str(clinic), "--out", str(again), "--steps", "7",
                "--threads", "1", "--icbhi", "--reuse-weights"])
    for name in ("auscultation_fp32.onnx", "auscultation_int8.onnx", "auscultation_eval.json", "manifest.json"):
        assert (again / name).read_bytes() == (bundle / name).read_bytes(), name
    entry = json.loads((again / "manifest.json").read_text())["models"]["auscultation"]
    assert entry["training_data"]["steps"] == 2 and "results_unchanged_from" not in entry
    created = json.loads((bundle / "manifest.json").read_text())["models"]["auscultation"]["created"]
    assert created != ANOTHER_DAY.isoformat()

    # Weights the entry does not describe are dated by their file (the day they were written).
    torch.save({"other": torch.zeros(1)}, weights)
    os.utime(weights, (later, later))
    assert export.weights_created(again, sha256_file(weights)) == ANOTHER_DAY.isoformat()


def test_a_reissue_records_who_trained_the_weights_not_the_data_it_reads(trained, children_dir, kauh_dir, tmp_path,
                                                                          capsys):
    """``--reuse-weights`` takes who trained the weights from the entry that describes them: a folder added
    since is not named as training them (its train patients trained nothing); a seed whose split would put a
    patient who trained them in validation or test, or weights no entry describes, are refused before any
    scoring."""
    clinic, bundle = trained
    entry = json.loads((bundle / "manifest.json").read_text())["models"]["auscultation"]
    record = entry["training_data"]
    parts, _ = train.load_split([children_dir, clinic, kauh_dir], seed=0)
    kept = train.trained_part(parts, record)
    assert validation.part_patients(kept["train"]) == record["split"]["patients"]["train"]
    assert not any(r.dataset_family == "kauh" for r in kept["train"])  # KAUH read now; it trained nothing
    assert export.training_population(kept).startswith(CLINIC_TRAINED)

    # As another seed's split would: a patient who trained the weights in the validation part.
    moved = {**parts, "train": parts["train"][1:], "validation": parts["validation"] + parts["train"][:1]}
    with pytest.raises(DatasetError, match=r"fall in the validation or test part of this split: use the --seed they "
                                           r"were trained with \(0\)"):
        train.trained_part(moved, record)
    with pytest.raises(DatasetError, match="are not in the data read"):
        train.trained_part(train.load_split([clinic], seed=0)[0], record)

    again = shutil.copytree(bundle, tmp_path / "again")
    torch.save({"other": torch.zeros(1)}, again / "auscultation.pt")
    err = _refused(capsys, ["--data", str(children_dir), "--data", str(clinic), "--out", str(again), "--threads", "1",
                            "--icbhi", "--reuse-weights"])
    assert "has no auscultation entry for these weights" in err


def test_evaluate_reproduces_the_clinics_figures_and_refuses_other_test_patients(trained, settings, tmp_path):
    clinic, bundle = trained
    edit_manifest(bundle, lambda models: models["auscultation"].update(version="0.6.1-clinic"))
    trust_test_key(settings.data_dir)
    runner = CliRunner()
    installed = runner.invoke(cli, ["models", "install", str(bundle), "--data-dir", str(settings.data_dir)])
    assert installed.exit_code == 0, installed.output
    result = runner.invoke(audio, ["evaluate", "--data", str(clinic), "--part", "test", "--json",
                                   "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["manifest_check"]["all_ok"], report["manifest_check"]
    assert "adults_clinic.patient.auc" in report["manifest_check"]["metrics"]
    # The same folder with one more test patient: its test patients are not the manifest's.
    _, positive, _ = kauh_patients(SHARED_DATA / "kauh")
    extra = pseudonyms({"test": 1}, start=10_000)["test"][0]
    grown = tmp_path / "other" / "clinic"
    assignment = {**clinic_assignment(SHARED_DATA / "kauh"), extra: positive[-1]}
    write_clinic(SHARED_DATA / "kauh", grown, assignment)
    refused = runner.invoke(audio, ["evaluate", "--data", str(grown), "--part", "test", "--data-dir", str(settings.data_dir)])
    assert refused.exit_code == 1 and "adults_clinic test patients" in refused.output, refused.output


def test_without_a_labelled_folder_the_shared_split_is_the_shipped_one(shared_data_dir):
    """Bit-identical training needs the same split: the shipped manifest's part hashes recompute."""
    parts, fractions = train.load_split([shared_data_dir], seed=0)
    assert fractions == splits.FRACTIONS
    shipped = selected_registry().entry("auscultation")["training_data"]["split"]
    assert validation.part_digests(parts["test"]) == shipped["test_patients_sha256"]
    assert validation.part_digests(parts["validation"]) == shipped["validation_patients_sha256"]
    assert {name: validation.part_patients(part) for name, part in parts.items()} == shipped["patients"]
    # ... and so do its records of who trained it and which data sets it read.
    entry = selected_registry().entry("auscultation")
    assert export.training_population(parts) == entry["validation_status"]["training_population"]
    assert export.training_population(parts) == entry["training_data"]["population"]
    assert export.dataset_citations([r for part in parts.values() for r in part]) == entry["training_data"]["datasets"]


def test_a_clinic_patients_part_follows_its_pseudonym_alone(kauh_dir, shared_data_dir, tmp_path):
    """Shuffled rows, another patient added or the shared data beside it move no patient's part."""
    assignment = clinic_assignment(kauh_dir)
    alone, _ = train.load_split([write_clinic(kauh_dir, tmp_path / "a" / "clinic", assignment)], seed=0)
    _, positive, _ = kauh_patients(kauh_dir)
    extra = {pseudonym: positive[-1] for ids in pseudonyms({"train": 1, "test": 1}, start=10_000).values()
             for pseudonym in ids}
    grown_folder = write_clinic(kauh_dir, tmp_path / "b" / "clinic", {**extra, **assignment}, shuffle=True)
    grown, _ = train.load_split([shared_data_dir, grown_folder], seed=0)
    shared, _ = train.load_split([shared_data_dir], seed=0)

    def patients(parts, family):
        return {name: {r.patient_id for r in part if r.dataset_family == family} for name, part in parts.items()}

    for name in splits.PARTS:
        assert patients(alone, FAMILY)[name] == patients(grown, FAMILY)[name] - set(extra)
        for family in ("sprsound", "kauh"):
            assert patients(shared, family)[name] == patients(grown, family)[name]
    assert set(extra) <= patients(grown, FAMILY)["train"] | patients(grown, FAMILY)["test"]


def test_the_statement_names_kauh_only_when_its_adults_were_used(shared_data_dir):
    """The shipped statement recomputes byte for byte from its manifest (KAUH's validation adults chose the
    threshold); a model whose adults are a folder's alone names that folder, never KAUH or KAUH's diseases."""
    entry = selected_registry().entry("auscultation")
    split = entry["training_data"]["split"]
    chosen_on = splits.select(corpus.load_corpus(shared_data_dir), "validation", seed=split["seed"],
                              fractions=split["fractions"])
    assert train.export.adult_threshold_sources(chosen_on) == ["KAUH"]
    test = entry["metrics"]["test"]
    recomputed = train.export.validation_statement(
        entry["validation"], against_crackle_free=test["populations"]["adults"]["subgroups"]["against_crackle_free"],
        adults_input_noise=entry["population_input_noise"]["adults"], icbhi=test.get("icbhi_adults"),
        adult_test_seen=train.ADULT_TEST_SEEN, adults_chose=train.export.adult_threshold_sources(chosen_on))
    assert recomputed == entry["validation_status"]["statement"]
    # ... and so do its caveats, from the same figures.
    assert train.export.validation_caveats(
        entry["validation"], against_crackle_free=test["populations"]["adults"]["subgroups"]["against_crackle_free"],
        adults_input_noise=entry["population_input_noise"]["adults"], icbhi=test.get("icbhi_adults"),
        adult_test_seen=train.ADULT_TEST_SEEN) == entry["validation_status"]["caveats"]

    clinic = {**{key: value for key, value in entry["validation"]["populations"]["adults"].items() if key != "by_device"},
              "devices": ["Acme Digital 7"]}
    block = {"populations": {"adults_clinic": clinic}}
    folder_only = train.export.validation_statement(block, labelled_trained=["clinic"], adults_chose=["clinic"])
    assert "its adult threshold chosen on other adults (the validation patients of labelled folder(s) clinic)" in folder_only
    assert f"on {clinic['patients']} held-out adults of labelled folder clinic" in folder_only
    assert "KAUH" not in folder_only and "heart failure" not in folder_only and "Littmann" not in folder_only
    both = train.export.validation_statement(block, labelled_trained=["clinic"], adults_chose=["KAUH", "clinic"])
    assert "(KAUH and the validation patients of labelled folder(s) clinic)" in both
    assert "no adult chose its threshold" in train.export.validation_statement(block, adults_chose=[])


def test_the_caveats_carry_the_numbers_the_export_measured():
    """Each caveat is a code the clinic words (edge.web.presenters.CRACKLE_CAVEATS) with the numbers measured;
    what was not measured is not claimed."""
    from edge.web import presenters

    adults = {"patients": 20, "positive_patients": 6, "devices": ["S bell", "S diaphragm"]}
    against = {"none": {"auc": 0.61, "auc_ci95": [0.3, 0.8], "crackle_free_patients": 5},
               "wheeze": {"auc": 0.9, "auc_ci95": [0.7, 1.0], "crackle_free_patients": 7}}
    caveats = export.validation_caveats({"populations": {"adults": adults}}, against_crackle_free=against,
                                        adults_input_noise={"snr_db": 25.0, "draws": 2, "seed": 0},
                                        icbhi={"with_crackles": 2, "with_crackles_called_positive": 1},
                                        adult_test_seen=train.ADULT_TEST_SEEN)
    devices = ["S bell", "S diaphragm"]
    assert caveats == [
        {"code": "test_seen_before_input_noise", "population": "adults", "patients": 20, "positive_patients": 6,
         "devices": devices},
        {"code": "crackles_against_normal_breathing", "population": "adults", "auc": 0.61, "auc_ci95": [0.3, 0.8],
         "crackle_free_patients": 5, "against_wheeze_auc": 0.9, "devices": devices},
        {"code": "input_noise_may_hide_crackles", "population": "adults", "snr_db": 25.0, "icbhi_with_crackles": 2,
         "icbhi_found": 1}]
    assert set(export.CAVEAT_CODES) == set(presenters.CRACKLE_CAVEATS)
    assert presenters.crackle_model_caveats({"caveats": caveats}, "zh-CN") is not None
    # A folder's adults only, no noise, no test seen: nothing of KAUH's adults is claimed.
    folder = {"populations": {"adults_clinic": adults}}
    assert export.validation_caveats(folder, against_crackle_free=against) == []
    assert [c["code"] for c in export.validation_caveats(folder, adults_input_noise={"snr_db": 20.0})] == [
        "input_noise_may_hide_crackles"]


def test_a_wording_only_reissue_names_the_entry_whose_results_it_keeps():
    """results_unchanged_from: the entry replaced, when only WORDING changed; nothing when a figure did."""
    old = {"threshold": 0.2, "metrics": {"auc": 0.8}, "validation_status": {"statement": "a", "synthetic": False}}
    words = {**old, "validation_status": {"statement": "b", "synthetic": False, "caveats": []},
             "evaluation_data": {"ICBHI": {}}}
    digest = export.json_digest(old)
    assert export.results_unchanged_from(old, words) == [digest]
    again = {**words, "results_unchanged_from": [digest]}
    assert export.results_unchanged_from(again, words) == [digest]  # the same entry again: the same bytes
    assert export.results_unchanged_from(again, {**words, "validation_status": {"statement": "c", "synthetic": False}}) \
        == [digest, export.json_digest(again)]
    assert export.results_unchanged_from(old, {**words, "metrics": {"auc": 0.81}}) == []
    assert export.results_unchanged_from(old, {**words, "validation_status": {"statement": "b", "synthetic": True}}) == []
    assert export.results_unchanged_from(None, words) == []


@pytest.mark.parametrize(("name", "why"), [
    ("adults", "adults_adults"), ("Children", "children_Children"), ("adults_north", "adults_adults_north"),
    ("sprsound2022", "public set's folder name"), ("kauh", "public set's folder name"),
    ("icbhi_sample", "read the folder itself as ICBHI's"), ("ICBHI_extra", "read the folder itself as ICBHI's"),
    # A public set's own name, or one that starts like it, reads as that set's too (children_sprsound, adults_kauh_2).
    ("sprsound", "public set's folder name or starts like one"), ("SPRSound2024", "would read as that set's"),
    ("kauh_north", "would read as that set's"), ("ICBHI", "would read as that set's"),
    ("north clinic", "letters, digits"), ("_north", "letters, digits")])
def test_a_folder_name_that_would_make_a_confusing_population_key_is_refused_before_training(
        tmp_path, capsys, name, why):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "labels.csv").write_text("file,patient_id,chest_site,device,label\n")
    out = tmp_path / "out"
    err = _refused(capsys, ["--data", str(folder), "--out", str(out), "--steps", "1", "--threads", "1"])
    assert f"{folder}: labelled folder name {name!r} refused" in err and why in err and "rename the folder" in err
    assert not out.exists()


def test_a_plain_clinic_folder_name_is_taken(tmp_path):
    for name in ("clinic", "north-clinic.2026", "诊所"):
        corpus.check_labelled_folder_name(tmp_path / name)


def _refused(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        train.main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


def test_bad_folders_are_refused_before_training_naming_the_folder_and_the_row(kauh_dir, tmp_path, capsys):
    out = ["--out", str(tmp_path / "out"), "--steps", "1", "--threads", "1"]
    clinic = write_clinic(kauh_dir, tmp_path / "clinic", clinic_assignment(kauh_dir))
    table = (clinic / "labels.csv").read_text()

    (clinic / "labels.csv").write_text(table.replace(",no,", ",maybe,", 1))
    assert "labels.csv:" in (err := _refused(capsys, ["--data", str(clinic), *out])) and "got 'maybe'" in err
    (clinic / "labels.csv").write_text(table.replace("device,", "stethoscope,", 1))
    assert "missing column(s) ['device']" in _refused(capsys, ["--data", str(clinic), *out])
    (clinic / "labels.csv").write_text(table)

    # The same patients in a second folder (a second export of one clinic): a patient in two folders.
    again = write_clinic(kauh_dir, tmp_path / "again", clinic_assignment(kauh_dir))
    err = _refused(capsys, ["--data", str(clinic), "--data", str(again), *out])
    assert f"{again / 'labels.csv'}:2: its patient_id is also a patient of {clinic}" in err
    same_name = write_clinic(kauh_dir, tmp_path / "elsewhere" / "clinic", clinic_assignment(kauh_dir, start=50_000))
    err = _refused(capsys, ["--data", str(clinic), "--data", str(same_name), *out])
    assert "a labelled folder of the same name (local:clinic)" in err

    # Too few patients in a part: N = splits.MIN_PART_PATIENTS of each class, and the message says so.
    err = _refused(capsys, ["--data", str(clinic), "--labelled-fractions", "0.9", "0.05", "0.05", *out])
    assert str(clinic) in err and f"needs at least {splits.MIN_PART_PATIENTS} of each" in err
    small = write_clinic(kauh_dir, tmp_path / "small" / "clinic",
                         dict(list(clinic_assignment(kauh_dir).items())[:-1]))  # one test patient fewer
    err = _refused(capsys, ["--data", str(small), *out])
    assert "its test part (0.2 of its patients" in err and "holds 2 patient(s) with crackles and 1 without" in err

    # A clinic's folder trains beside recordings with event times, never alone.
    assert "not alone" in _refused(capsys, ["--data", str(clinic), *out])


def test_a_folder_of_one_name_is_one_family_whatever_path_it_is_read_from(kauh_dir, tmp_path):
    folder = write_clinic(kauh_dir, tmp_path / "x" / "clinic", clinic_assignment(kauh_dir))
    recordings, folders = corpus.load_corpora([folder])
    assert {r.dataset_family for r in recordings} == {FAMILY} and folders == {FAMILY: folder}
    assert {r.row for r in recordings} == set(range(2, len(recordings) + 2))
    with pytest.raises(DatasetError, match="fractions must be three non-negative numbers"):
        splits.family_fractions(recordings, labelled_fractions=(0.5, 0.5, 0.5))
