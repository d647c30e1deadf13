"""Patient splits, the KAUH loader and the corpus: a patient's part is a pure function of
(seed, patient), a child recorded in both SPRSound releases is in one part, and the adult
recordings load with the counts their README gives."""

import collections
import shutil

import pytest

from audio_models.datasets import corpus, kauh, splits
from audio_models.errors import DatasetError


class _Recording:
    def __init__(self, family, patient_id):
        self.dataset_family, self.patient_id = family, patient_id


def test_a_patients_part_depends_only_on_the_seed_and_the_patient():
    patients = [_Recording("sprsound", str(i)) for i in range(400)]
    full = splits.patient_split(patients, seed=0)
    fewer = splits.patient_split(patients[::3], seed=0)
    assert all(full[key] == part for key, part in fewer.items())  # withholding others moves nobody
    assert splits.patient_split(list(reversed(patients)), seed=0) == full
    assert splits.patient_split(patients, seed=1) != full
    counts = collections.Counter(full.values())
    assert abs(counts["train"] / 400 - 0.6) < 0.07 and abs(counts["test"] / 400 - 0.2) < 0.07


def test_the_same_id_in_two_datasets_is_two_patients():
    split = splits.patient_split([_Recording("sprsound", "11"), _Recording("kauh", "11")], seed=0)
    assert set(split) == {"sprsound:11", "kauh:11"}


def test_digests_name_the_patients_not_the_recordings():
    a = [_Recording("kauh", "1"), _Recording("kauh", "2")]
    assert splits.part_digest(a) == splits.part_digest(a + [_Recording("kauh", "1")])
    assert splits.part_digest(a) != splits.part_digest(a[:1])


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_refused_with_the_value(fractions):
    with pytest.raises(DatasetError, match="three non-negative numbers summing to 1"):
        splits.part_of("kauh:1", seed=0, fractions=fractions)


def test_an_unknown_part_or_family_is_refused():
    with pytest.raises(DatasetError, match="part must be one of"):
        splits.select([_Recording("kauh", "1")], "holdout")
    with pytest.raises(DatasetError, match="no split fractions for dataset family 'icbhi'"):
        splits.patient_split([_Recording("icbhi", "101")], seed=0)


def test_kauh_loads_37_adults_and_107_recordings_through_three_filter_modes(kauh_dir):
    recordings = kauh.load_kauh(kauh_dir)
    assert len(recordings) == 107 and len({r.patient_id for r in recordings}) == 37
    assert sum(r.has_fine_crackles for r in recordings) == 27
    assert len({r.patient_id for r in recordings if r.has_fine_crackles}) == 9
    assert {r.filter_mode for r in recordings} == set(kauh.FILTER_MODES)
    assert {r.population for r in recordings} == {"adults"} and recordings[0].device.startswith("Littmann 3200 ")
    assert all(r.events == () and not r.poor_quality for r in recordings)


def test_kauh_says_what_else_a_recording_holds_from_its_sound_code(kauh_dir):
    """``other_sounds`` separates normal chests from wheezes among the crackle-free adults (the README
    counts 29 normal and 51 wheeze recordings), so the evaluation can show the two apart."""
    negatives = [r for r in kauh.load_kauh(kauh_dir) if not r.crackles]
    kinds = [r.other_sounds for r in negatives]
    assert (kinds.count("none"), kinds.count("wheeze"), len(kinds)) == (29, 51, 80)
    assert all(r.sound_label == "N" for r in negatives if r.other_sounds == "none")


def test_kauh_locations_become_chest_sites_and_lower_zones_are_basal():
    from audio_models.aggregation import is_basal

    assert kauh.chest_site("P L L") == "posterior_lower_left" and is_basal(kauh.chest_site("P L L"))
    assert not is_basal(kauh.chest_site("P R U"))
    with pytest.raises(DatasetError, match="KAUH location must be A/P, then L/R and a zone U/M/L in either order, got 'X'"):
        kauh.chest_site("X")


def _kauh_copy(kauh_dir, tmp_path, edit):
    folder = tmp_path / "kauh"
    shutil.copytree(kauh_dir, folder)
    table = folder / kauh.TABLE
    lines = table.read_text().splitlines()
    table.write_text("\n".join(edit(lines)) + "\n")
    return folder


@pytest.mark.parametrize("edit, message", [
    (lambda lines: [lines[0].replace("crackles,", "crackle,")] + lines[1:], r"missing column\(s\) \['crackles'\]"),
    (lambda lines: [lines[0], lines[1].replace(",bell,", ",stereo,")] + lines[2:], "recordings.csv:2: filter_mode must be one of"),
    (lambda lines: [lines[0], lines[1].replace("kauh100_bell.flac", "absent.flac")] + lines[2:], "recordings.csv:2: recording not found: absent.flac"),
    (lambda lines: lines[:1], "no recordings"),
])
def test_a_malformed_kauh_table_names_the_row(kauh_dir, tmp_path, edit, message):
    with pytest.raises(DatasetError, match=message):
        kauh.load_kauh(_kauh_copy(kauh_dir, tmp_path, edit))


def test_the_corpus_holds_both_populations_and_a_child_keeps_one_part_across_releases(shared_data_dir):
    recordings = corpus.load_corpus(shared_data_dir)
    assert {r.population for r in recordings} == {"children", "adults"}
    assert {r.dataset for r in recordings} == {"sprsound2022", "sprsound2022_test", "kauh"}
    by_release = collections.defaultdict(list)
    for r in recordings:
        by_release[r.dataset].append(r)
    parts = {}
    for release in ("sprsound2022", "sprsound2022_test"):
        # Each release split on its own, as a user holding only that release would.
        parts[release] = {name: {r.patient_id for r in splits.select(by_release[release], name)} for name in splits.PARTS}
    both = {r.patient_id for r in by_release["sprsound2022"]} & {r.patient_id for r in by_release["sprsound2022_test"]}
    assert len(both) > 50  # the test release's "intra" children
    for name in splits.PARTS:
        assert parts["sprsound2022"][name] & both == parts["sprsound2022_test"][name] & both
    assert len(corpus.load_corpus(shared_data_dir, population="adults")) == 107


def test_the_corpus_refuses_an_unknown_population_and_a_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="population must be one of"):
        corpus.load_corpus(tmp_path, population="elderly")
    with pytest.raises(DatasetError, match="data folder not found"):
        corpus.load_corpus(tmp_path / "absent")
