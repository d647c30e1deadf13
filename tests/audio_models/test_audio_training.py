"""Training helpers (no real training here): frame targets from expert events, the window
sampler's masks and weak adult labels, population shares, augmentation that never changes labels,
and the operating-point choices."""

import logging
import pathlib

import numpy as np
import pytest

from audio_models import scoring
from audio_models.scoring import calibrate_score
from audio_models.datasets.sprsound import Event, SprsoundRecording
from audio_models.synthetic import Crackle

pytest.importorskip("torch", reason="training helpers need the training extra (torch)")
from audio_models import train  # noqa: E402


def _recording(label, events, name="1_5.0_0_p1_1"):
    return SprsoundRecording(path=None, patient_id="1", age_y=5.0, sex="M", location="p1", recording_number="1",
                             record_label=label, events=tuple(events))


def test_frame_targets_mark_the_frames_an_event_touches():
    target = train.frame_targets([Crackle(onset_s=0.060, duration_s=0.010, kind="fine"),
                                  Crackle(onset_s=3.995, duration_s=0.010, kind="fine")])
    assert np.flatnonzero(target).tolist() == [1, 2, 124]  # 60-70 ms spans frames 1 and 2 (32 ms each)


def test_frame_targets_follow_the_window_offset_and_the_event_type():
    events = [Event(10.0, 10.005, "Fine Crackle"), Event(9.5, 9.6, "Wheeze")]
    assert np.flatnonzero(train.frame_targets(events, offset_s=9.0)).tolist() == [31]
    assert np.flatnonzero(train.frame_targets(events, offset_s=9.0, types=("Wheeze",))).tolist() == [15, 16, 17, 18]


def test_sampled_windows_hold_the_crackle_and_leave_other_crackles_and_poor_records_out_of_the_loss():
    rate = 4000
    positive = _recording("DAS", [Event(5.0, 5.8, "Fine Crackle"), Event(7.0, 7.5, "Coarse Crackle")])
    poor = _recording("Poor Quality", [])
    normal = _recording("Normal", [Event(0.5, 3.0, "Normal")])
    sampler = train.WindowSampler([positive, poor, normal], [np.ones(10 * rate, np.float32)] * 3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        pcm, target, mask, window_target, window_mask, quality = sampler.window(0, rng)
        assert pcm.shape == (16000,) and target.sum() > 0 and quality == 0.0 and window_target == 1.0
        coarse_only = (train.frame_targets(positive.events, types=("Coarse Crackle",)) > 0)
        assert mask.min() == 0.0 or not coarse_only.any()
    pcm, target, mask, window_target, window_mask, quality = sampler.window(1, rng)
    assert quality == 1.0 and mask.sum() == 0 and window_mask == 0.0
    _, target, mask, window_target, window_mask, _ = sampler.window(2, rng)
    assert target.sum() == 0 and mask.min() == 1.0 and (window_target, window_mask) == (0.0, 1.0)


def _adult(crackles, patient="11"):
    from audio_models.datasets.kauh import KauhRecording

    return KauhRecording(path=pathlib.Path(f"kauh{patient}_bell.flac"), patient_id=patient, filter_mode="bell",
                         sound_label="C" if crackles else "N", crackles=crackles, location="P L L", age_y=60.0, sex="M")


class _TimedAdult(SprsoundRecording):
    """A recording with event times from an adult (no such corpus yet): the sampler's population shares."""

    population = "adults"


def test_the_window_sampler_refuses_recordings_labelled_only_as_a_whole():
    """A crackle recording with no event times has no window known to hold a crackle: making each of its
    windows a positive would teach the detector the patient, not the crackle (model 0.4.0)."""
    from audio_models.errors import DatasetError

    with pytest.raises(DatasetError, match=r"labelled as a whole train through RecordingBags.*kauh11_bell"):
        train.WindowSampler([_adult(True)], [np.ones(40000, np.float32)])


def test_a_bag_is_a_recording_cut_as_the_service_cuts_it_and_scored_by_its_top_two_windows():
    import torch

    from audio_models.windows import aggregate_windows, split_windows

    samples = [np.arange(4000 * 10, dtype=np.float32), np.ones(4000 * 40, dtype=np.float32)]
    bags = train.RecordingBags([_adult(True), _adult(False, "12")], samples)
    assert np.array_equal(bags.windows[0], split_windows(samples[0], sample_rate=4000)[0])
    rng = np.random.default_rng(0)
    assert len(bags.bag(1, rng)) == train.BAG_MAX_WINDOWS < len(bags.windows[1])
    pcm, owner, labels = bags.batch(rng, 40)
    assert len(pcm) == len(owner) and set(owner.tolist()) == set(range(40)) and 10 < labels.sum() < 30
    window_scores = torch.tensor([0.1, 0.9, 0.7, 0.2, 0.3, 0.4])
    owner = torch.tensor([0, 0, 0, 0, 1, 1])
    scores = train.recording_scores(window_scores, owner, 2).tolist()
    assert scores == pytest.approx([aggregate_windows([0.1, 0.9, 0.7, 0.2]), aggregate_windows([0.3, 0.4])])
    assert train.recording_scores(torch.tensor([0.6]), torch.tensor([0]), 1).tolist() == pytest.approx([0.6])


def test_the_sampler_draws_each_population_at_its_share():
    children = [_recording("Normal", [])] * 50 + [_recording("DAS", [Event(1.0, 1.2, "Fine Crackle")])] * 50
    adults = [_TimedAdult(None, "12", 60.0, "M", "p1", "1", "Normal", ()),
              _TimedAdult(None, "11", 60.0, "M", "p1", "1", "DAS", (Event(1.0, 1.2, "Fine Crackle"),))]
    sampler = train.WindowSampler(children + adults, [np.ones(40000, np.float32)] * 102,
                                  population_share={"children": 0.75, "adults": 0.25})
    rng = np.random.default_rng(2)
    picks = [sampler.pick(rng) for _ in range(4000)]
    adult_share = np.mean([i >= 100 for i in picks])
    assert 0.22 < adult_share < 0.28  # 2 adult recordings of 102 would be 2 % by count


def test_augmentation_keeps_shape_and_never_silences_a_window():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16000)).astype(np.float32)
    out = train.augment(x.copy(), rng, [rng.standard_normal(16000)])
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert (np.sqrt((out**2).mean(axis=1)) > 1e-3).all()


def _row(patient, site, label, probability, *, poor=False, ok=True, population="adults"):
    from audio_models.quality import QualityReport

    return {"patient": patient, "location": site, "label": label, "poor_quality": poor, "population": population,
            "recording_score": probability, "crackle_probability": probability, "poor_quality_probability": 0.1,
            "quality": QualityReport(ok=ok, issues=() if ok else ("poor_signal: x",))}


def test_the_threshold_is_the_patient_level_youden_point():
    rows = [_row("a", "base_left", 1, 0.9), _row("a", "base_right", 1, 0.1), _row("b", "base_left", 1, 0.6),
            _row("c", "base_left", 0, 0.5), _row("d", "base_left", 0, 0.2), _row("d", "base_left", 0, 0.3)]
    # Patients by their highest site: a 0.9 (+), b 0.6 (+), c 0.5 (-), d 0.3 (-): 0.6 separates them;
    # a mean over a's sites (0.5) would have missed a.
    assert train.youden_patient_threshold(rows) == 0.6


def test_adults_and_children_each_get_the_youden_point_of_their_own_validation_patients():
    children = [_row("c1", "base_left", 1, 0.9, population="children_sprsound2022"),
                _row("c2", "base_left", 1, 0.8, population="children_sprsound2022_test"),
                _row("c3", "base_left", 0, 0.7, population="children_sprsound2022"),
                _row("c4", "base_left", 0, 0.1, population="children_sprsound2022")]
    adults = [_row("a1", "base_left", 1, 0.4), _row("a2", "base_left", 1, 0.35),
              _row("a3", "base_left", 0, 0.3), _row("a4", "base_left", 0, 0.05)]
    for row in children + adults:
        row["poor_quality_probability"] = 0.0
    calibration, thresholds, _ = train.choose_operating_points(children + adults)
    assert set(thresholds) == {"adults", "children"}
    # Pooled, the adults' positives (0.35, 0.4) sit below a child without crackles (0.7): one point
    # would miss them or call that child. Apart, each group is separated at its own point.
    for rows, threshold in ((adults, thresholds["adults"]), (children, thresholds["children"])):
        called = [calibrate_score(r["recording_score"], calibration) >= threshold for r in rows]
        assert called == [bool(r["label"]) for r in rows]
    assert thresholds["adults"] < thresholds["children"]


def _rows_scoring(auc_of):
    """A stand-in for ``validation.score_settings_in_turn``: for each population (adults, then children) and
    setting, rows of four patients whose patient AUC is ``auc_of(cohort, input_noise)`` (0.5, 0.75 or 1.0)."""
    def score_settings_in_turn(recordings, *, settings):
        for cohort, population in (("adults", "adults"), ("children", "children_sprsound2022")):
            for name, (_, entry) in settings.items():
                yield population, name, population_rows(cohort, population, entry=entry)

    def population_rows(cohort, population, *, entry):
        noise = scoring.entry_for_population(entry, cohort).get("input_noise")
        # Positives p1, p2 and negatives n1, n2: each swap of a positive below a negative costs 0.25.
        scores = {1.0: (0.9, 0.8, 0.2, 0.1), 0.75: (0.9, 0.3, 0.4, 0.1), 0.5: (0.9, 0.2, 0.4, 0.3)}[auc_of(cohort, noise)]
        return [_row(f"{cohort}-{patient}", "base_left", label, score, population=population)
                for patient, label, score in zip(("p1", "p2", "n1", "n2"), (1, 1, 0, 0), scores)]
    return score_settings_in_turn


def test_input_noise_is_chosen_per_population_by_its_mean_validation_patient_auc(monkeypatch):
    def auc_of(cohort, noise):
        if cohort == "children" or noise is None:
            return 0.5 if noise is None and cohort == "adults" else 0.75  # children: noise gains nothing
        if noise["snr_db"] == 20.0:  # one seed's luck: 1.0 once, 0.5 otherwise (mean 0.625)
            return 1.0 if noise["seed"] == train.INPUT_NOISE_CHOICE_SEEDS[0] else 0.5
        return 0.75 if noise["snr_db"] in (35.0, 30.0) else 0.5

    monkeypatch.setattr(train.validation, "score_settings_in_turn", _rows_scoring(auc_of))
    chosen, table = train.choose_input_noise([], run=None, entry={"threshold": 0.5})
    # Adults: 35 and 30 dB tie at 0.75 (a gain of 0.25); the tie keeps less noise. 20 dB's single
    # lucky seed does not win on the mean. Children gain nothing, so they get none.
    assert chosen == {"adults": {"snr_db": 35.0, "draws": train.INPUT_NOISE_DRAWS, "seed": scoring.INPUT_NOISE_SEED},
                      "children": None}
    assert table["adults"] == {"none": 0.5, "40": 0.5, "35": 0.75, "30": 0.75, "25": 0.5, "20": 0.625}
    assert set(table["children"].values()) == {0.75}


def test_the_input_noise_choice_logs_each_population_and_setting_as_it_scores_them(monkeypatch, caplog):
    monkeypatch.setattr(train.validation, "score_settings_in_turn",
                        _rows_scoring(lambda cohort, noise: 0.5 if noise is None else 0.75))
    with caplog.at_level(logging.INFO, logger=train.logger.name):
        train.choose_input_noise([], run=None, entry={"threshold": 0.5})
    lines = [record.getMessage() for record in caplog.records if record.name == train.logger.name]
    # One line per population and setting (each level once per seed, none once), in the order scored.
    trials = train.input_noise_trials()
    assert len(lines) == 2 * len(trials) and len(trials) == 1 + 5 * len(train.INPUT_NOISE_CHOICE_SEEDS)
    assert lines[0].startswith("input noise choice: white noise none, seed 0, scored on adults (4 recordings); ")
    assert lines[-1].startswith("input noise choice: white noise 20 dB, seed 3000, scored on children_sprsound2022 "
                                "(4 recordings); ")
    assert all(line.endswith(" s elapsed") for line in lines)
    assert not any("p1" in line or "n2" in line for line in lines)  # no patient ids


def test_input_noise_needs_its_minimum_gain(monkeypatch):
    monkeypatch.setattr(train, "INPUT_NOISE_MIN_GAIN", 0.3)
    monkeypatch.setattr(train.validation, "score_settings_in_turn",
                        _rows_scoring(lambda cohort, noise: 0.5 if noise is None else 0.75))
    chosen, _ = train.choose_input_noise([], run=None, entry={"threshold": 0.5})
    assert chosen == {"adults": None, "children": None}


def test_operating_points_keep_each_population_under_its_refusal_share():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        child = _row(f"c{i}", "posterior_left", int(i % 5 == 0), 0.3 * (i % 5 == 0) + 0.7 * rng.uniform(),
                     population="children_sprsound2022")
        child["poor_quality_probability"] = rng.uniform(0.0, 0.3)
        adult = _row(f"a{i}", "posterior_lower_left", int(i % 4 == 0), 0.3 * (i % 4 == 0) + 0.7 * rng.uniform())
        adult["poor_quality_probability"] = rng.uniform(0.2, 0.8)
        rows += [child, adult]
    _, _, quality_thresholds = train.choose_operating_points(rows)
    for population, cohort in (("adults", "adults"), ("children_sprsound2022", "children")):
        poor = [r["poor_quality_probability"] for r in rows if r["population"] == population]
        assert np.mean(np.array(poor) >= quality_thresholds[cohort]) <= train.QUALITY_FALSE_REFUSAL + 0.01
    # The adults' poorer-looking good recordings do not lift the children's point: the head still
    # refuses children's recordings it rates above 0.3, the children's highest good score.
    assert quality_thresholds["children"] < 0.3 < quality_thresholds["adults"]


def test_training_twice_with_one_seed_gives_bit_identical_weights():
    """The initial weights, the batches and the augmentation all follow the seed, so the command
    reproduces its model (a model built before seeding would differ on the second call)."""
    import torch

    children = [_recording("Normal", [])] * 3 + [_recording("DAS", [Event(1.0, 1.2, "Fine Crackle")])] * 3
    rng = np.random.default_rng(0)
    sampler = train.WindowSampler(children, [rng.standard_normal(40000).astype(np.float32) for _ in range(6)],
                                  population_share=train.POPULATION_SHARE)
    bags = train.RecordingBags([_adult(True), _adult(False, "12")],
                               [rng.standard_normal(40000).astype(np.float32) for _ in range(2)])
    distractors = [rng.standard_normal(16000)]
    weights = {}
    for with_bags in (None, bags):
        for other_state in (1, 2):
            torch.manual_seed(other_state)  # leave the global generator somewhere else each time
            model = train.train_model(sampler, steps=2, seed=3, distractors=distractors, bags=with_bags)
            weights.setdefault(with_bags is not None, []).append(
                torch.cat([v.flatten().float() for v in model.state_dict().values()]))
    assert torch.equal(*weights[False]) and torch.equal(*weights[True])
    assert not torch.equal(weights[False][0], weights[True][0])  # the recordings labelled as a whole trained
