"""Scoring a lung-sound recording end to end for the clinic service.

decode -> quality gate -> resample to 4 kHz -> 4 s windows -> ONNX model -> recording
probability (top-2 window mean, calibrated as the manifest says) + per-window values + a
frame map the UI can draw under the waveform (:mod:`audio_models.scoring`, shared with
``ildscreen audio evaluate``). No torch here: the model runs on an ``edge.inference`` backend.

Quality decision: every decodable recording with sound in it is scored, and its quality
issues are reported beside the probability so the nurse sees *why* it should be
re-recorded; a silent or empty recording gets ``crackle_probability: None`` (there is
nothing to score). The visit's finding (``edge.modalities``) leaves out recordings whose
quality is not ok, so a noisy recording never drives it.
"""

import functools
import logging
from typing import Optional

import numpy as np

from audio_models import scoring
from audio_models.errors import ModelError
from audio_models.io import read_audio
from audio_models.limits import DEFAULT_AUDIO_LIMITS
from edge.fusion.evidence import (ADULT_POPULATION, PATIENT_CI_METHOD, POPULATION_FIGURES, ValidationRule,
                                  adult_populations, device_weakness, stethoscope_free_population)
from edge.inference.bundles import selected_registry
from edge.inference.models import ModelRegistry, entry_digest, validation_status, version_label
from edge.vocabulary import CHEST_PIECE_NOT_STATED, CHEST_PIECES, STETHOSCOPE_NOT_STATED, stethoscope_key

logger = logging.getLogger(__name__)

MODEL_NAME = "auscultation"


def default_model(variant=None):
    """The crackle model of the bundle this process serves on the CPU backend, loaded (and
    sha256-checked) once per bundle."""
    return _loaded_model(selected_registry().directory, variant)


@functools.lru_cache(maxsize=4)
def _loaded_model(directory, variant):
    return ModelRegistry(directory).load(MODEL_NAME, variant=variant)


def _model_stamp(model):
    entry = model.entry
    status = validation_status(entry, name=MODEL_NAME)
    return {"name": entry["name"], "version": entry["version"], "variant": model.variant,
            "synthetic": status.synthetic, "validation": status.statement, "threshold": entry["threshold"],
            "calibration": entry.get("calibration"), "intended_use": entry.get("intended_use"),
            "entry_sha256": entry_digest(entry)}


def adult_validation(adults: Optional[dict], by_device: Optional[dict] = None):
    """A crackle model's patient-level figures on held-out adults (an adult population of its manifest
    entry, or one device's figures there, as an assessment keeps them:
    :meth:`edge.modalities.ServedCrackleModel.counted_figures`), as whole percentages for the nurse's
    note, with whose they are (``population_key``; ``adults``, KAUH's, for figures kept before they said;
    ``device`` when they are one device's alone, the exam's one device or the least informative of its
    several, ``weakest_device`` True: ``ONE_DEVICE_FIGURES``, else None), or None without them. ``by_device``: that
    population's figures per device (:func:`population_by_device`), given as ``devices_found``
    (:func:`devices_found`) with the device to ``record_through`` (:func:`record_through`)."""
    if not adults:
        return None
    percent = lambda value: f"{100 * value:.0f}"
    found = devices_found(by_device)
    return {"population_key": adults.get("population_key", ADULT_POPULATION),
            "device": adults.get("device") if adults.get("figures_over") in ONE_DEVICE_FIGURES else None,
            "weakest_device": adults.get("figures_over") == "weakest_device",
            "patients": adults["patients"], "positive": adults["positive_patients"],
            "sensitivity": percent(adults["sensitivity"]), "specificity": percent(adults["specificity"]),
            "sensitivity_low": percent(adults["sensitivity_ci95"][0]), "sensitivity_high": percent(adults["sensitivity_ci95"][1]),
            "specificity_low": percent(adults["specificity_ci95"][0]), "specificity_high": percent(adults["specificity_ci95"][1]),
            "devices_found": found, "record_through": record_through(found)}


def population_by_device(figures: Optional[dict], populations: Optional[dict]) -> Optional[dict]:
    """The per-device figures (``by_device``) of the adult population whose figures a visit's note quotes
    (``figures``: :meth:`edge.modalities.ServedCrackleModel.counted_figures`; ``populations``: the manifest's
    ``validation.populations``, read for figures of one device alone, which do not carry their population's),
    or None when the manifest has none: pooled figures hide a chest piece that misses most crackles."""
    if not figures:
        return None
    block = ((populations or {}).get(figures.get("population_key")) or {}
             if figures.get("figures_over") in ONE_DEVICE_FIGURES else figures)
    by_device = block.get("by_device")
    return by_device if isinstance(by_device, dict) and by_device else None


def devices_found(by_device: Optional[dict]) -> list[dict]:
    """Each device's figures (``by_device``: :func:`population_by_device`) in the manifest's order, as the
    nurse's note counts them: ``found`` of the ``positive`` adults with crackles (sensitivity times the
    positive patients, the whole number it stands for), with the ``sensitivity`` and ``specificity``
    :func:`record_through` compares. Empty without them."""
    return [{"device": device, "positive": figures["positive_patients"],
             "found": round(figures["sensitivity"] * figures["positive_patients"]),
             "sensitivity": figures["sensitivity"], "specificity": figures["specificity"]}
            for device, figures in (by_device or {}).items()]


def record_through(found: list[dict]) -> Optional[str]:
    """The device to record through (``found``: :func:`devices_found`): the one that found the largest share
    of the adults with crackles (on a tie, that called most of the others clear, then the first in the
    manifest); None when no device found a smaller share than another (nothing to choose between).

    Examples
    --------
    >>> record_through([{"device": "S bell", "sensitivity": 0.0, "specificity": 1.0},
    ...                 {"device": "S diaphragm", "sensitivity": 1.0, "specificity": 0.83}])
    'S diaphragm'
    >>> record_through([{"device": "S bell", "sensitivity": 1.0, "specificity": 1.0}]) is None
    True
    """
    if len({item["sensitivity"] for item in found}) < 2:
        return None
    return max(found, key=lambda item: (item["sensitivity"], item["specificity"], -found.index(item)))["device"]


#: What a take's crackle result says of its stethoscope and chest piece (:func:`stethoscope_validation`).
STETHOSCOPE_STATUSES = ("validated", "chest_piece_not_validated", "not_in_adults", "not_validated", "not_stated")
#: Whose recordings a validated take's figures are over: its own device's alone, or all the adults' devices
#: together (a manifest without per-device figures).
FIGURES_OVER = ("device", "all_devices")
#: An exam's lung sounds counted with one device's figures alone (``figures_over`` of its finding and of the
#: note's figures): its takes' one device, or the least informative of several (docs/evidence.md, *Per device*).
ONE_DEVICE_FIGURES = ("device", "weakest_device")
#: The figures of an adult validation a validated take's result quotes, as the manifest words them.
ADULT_FIGURES = POPULATION_FIGURES


def device_parts(name: str) -> tuple[str, Optional[str]]:
    """A device of a validation population (``"Littmann 3200 bell"``, ``"Yunting II"``) as (stethoscope,
    chest piece): the chest piece is its last word when that is one of ``CHEST_PIECES``, else None
    (validated whatever the chest piece)."""
    words = name.split()
    if len(words) > 1 and words[-1].casefold() in CHEST_PIECES and words[-1].casefold() != CHEST_PIECE_NOT_STATED:
        return " ".join(words[:-1]), words[-1].casefold()
    return name.strip(), None


def _adult_figures(adults: dict, device: str) -> dict:
    """The adults' figures a validated take quotes: its ``device``'s own (``by_device``) when the manifest
    has them, else those of all that population's devices together (``population_devices``); ``figures_over``
    says which."""
    by_device = adults.get("by_device") if isinstance(adults.get("by_device"), dict) else {}
    own = by_device.get(device)
    if isinstance(own, dict):
        return {"figures_over": "device", "device": device, **{figure: own.get(figure) for figure in ADULT_FIGURES}}
    return {"figures_over": "all_devices", "population_devices": list(adults.get("devices") or []),
            **{figure: adults.get(figure) for figure in ADULT_FIGURES}}


def _patients(block: dict, device: Optional[str]) -> int:
    """The assessable patients behind the figures a take through ``device`` would quote from ``block``
    (``assessable_patients``; ``patients`` in a manifest without them)."""
    by_device = block.get("by_device") if isinstance(block.get("by_device"), dict) else {}
    figures = by_device.get(device) if isinstance(by_device.get(device), dict) else block
    patients = figures.get("assessable_patients", figures.get("patients"))
    return patients if isinstance(patients, int) else 0


def _most_patients(candidates: list[tuple[str, Optional[str]]], populations: dict) -> tuple[str, Optional[str]]:
    """Of ``(population, device)`` pairs, the one whose figures rest on most assessable patients (the
    narrowest intervals); on a tie the first in the manifest's order."""
    return max(candidates, key=lambda pair: (_patients(populations[pair[0]], pair[1]), -candidates.index(pair)))


def stethoscope_validation(entry: dict, *, stethoscope: str, chest_piece: str,
                           rule: Optional[ValidationRule] = None) -> dict:
    """Whether the crackle model (manifest ``entry``) was validated on a take's stethoscope and chest piece.

    Read from the entry's patient-level ``validation`` block (the one :func:`edge.fusion.evidence.
    detector_validation` counts; another block validates no device): the ``devices`` of each population,
    matched by :func:`edge.vocabulary.stethoscope_key`. The adult populations (:func:`edge.fusion.evidence.
    adult_populations`: KAUH's ``adults`` and each clinic folder's ``adults_<folder>``) are the ones screened
    here. ``status`` (``STETHOSCOPE_STATUSES``):
    ``validated``, a device of an adult population is this stethoscope and piece, and that ``population``'s
    patient-level figures are given: those of that ``device``'s recordings alone when the manifest has them
    (``by_device``; ``figures_over: "device"``), else over all its devices together (``figures_over:
    "all_devices"``). When several adult populations list the device, the one whose quoted figures rest on
    most assessable patients is chosen (on a tie, the first in the manifest); the lung-sound evidence counts the take
    with that population's figures (:func:`edge.fusion.evidence.detector_validation`).
    ``chest_piece_not_validated``, the adult populations' devices have this stethoscope through other pieces
    only (or the piece is not stated; ``population``: the one of them with most assessable patients);
    ``not_in_adults``, only another population's devices have it (``population_keys``: those populations'
    keys, for words in the reader's language; ``populations``: the manifest's English words);
    ``not_validated``, none has it; ``not_stated``, the take names no stethoscope. ``devices`` lists the adult
    populations' devices. A validated take quoting its device's own figures is also judged by them under
    ``rule`` (the programme's :class:`~edge.fusion.evidence.ValidationRule`; default its defaults):
    ``device_counts`` False, with ``device_reason_code`` and ``device_reason``, when its population's
    pooled figures pass the rule and its device's do not (:func:`edge.fusion.evidence.device_weakness`), else True.
    Whether the take counts in the lung-sound evidence is read from this status and ``device_counts``
    alone (:func:`edge.modalities.stethoscope_counts`). ``devices_counting`` (:func:`devices_counting`, under
    ``rule``): the devices of the take's adult population (``validated``, ``chest_piece_not_validated``; for
    ``not_stated``, the one a take naming no stethoscope counts with, :func:`edge.fusion.evidence.
    stethoscope_free_population`, absent when there is none) through which a take counts, the ones the nurse
    is told to record through instead: of a take left out for its device, or of a clear take through a chest
    piece that cannot rule crackles out (those of them that can: :func:`edge.modalities.devices_that_can_clear`).
    """
    validation = entry.get("validation") if isinstance(entry.get("validation"), dict) else {}
    patient_level = validation.get("unit") == "patient" and validation.get("ci_method") == PATIENT_CI_METHOD
    populations = validation.get("populations") if patient_level and isinstance(validation.get("populations"), dict) else {}
    devices = {name: [str(d) for d in block.get("devices") or []] for name, block in populations.items()
               if isinstance(block, dict)}
    adults = adult_populations(devices)
    answer = {"stethoscope": stethoscope, "chest_piece": chest_piece,
              "devices": list(dict.fromkeys(device for name in adults for device in devices[name])),
              "model_version": version_label(entry.get("name"), entry.get("version"))}
    counting = lambda name: {"devices_counting": devices_counting(populations[name], rule, name=name)} if name else {}
    if stethoscope == STETHOSCOPE_NOT_STATED:
        return {**answer, "status": "not_stated", **counting(stethoscope_free_population(devices))}
    key = stethoscope_key(stethoscope)
    matches = {name: [(device, device_parts(device)[1]) for device in names
                      if stethoscope_key(device_parts(device)[0]) == key]
               for name, names in devices.items()}
    # Per adult population, the take's own chest piece before a device named without one (validated
    # whatever the piece).
    validated = []
    for name in adults:
        own = [device for device, piece in matches[name] if piece == chest_piece] + \
              [device for device, piece in matches[name] if piece is None]
        validated += [(name, own[0])] if own else []
    if validated:
        population, device = _most_patients(validated, populations)
        figures = _adult_figures(populations[population], device)
        if figures["figures_over"] == "device":
            weak = device_weakness(populations[population], device, rule or ValidationRule(), name=population)
            figures["device_counts"] = weak is None
            if weak is not None:
                figures.update(device_reason_code=weak[0], device_reason=weak[1])
        return {**answer, "status": "validated", "population": population, **figures, **counting(population)}
    listing = [(name, None) for name in adults if matches[name]]
    if listing:
        population = _most_patients(listing, populations)[0]
        return {**answer, "status": "chest_piece_not_validated", "population": population, **counting(population)}
    others = [name for name, found in matches.items() if found]
    if others:
        return {**answer, "status": "not_in_adults", "population_keys": others,
                "populations": [str(populations[name].get("population") or name) for name in others]}
    return {**answer, "status": "not_validated"}


def devices_counting(population: dict, rule: Optional[ValidationRule] = None, *, name: str = ADULT_POPULATION) -> list[str]:
    """The devices of an adult ``population`` (its block in the manifest's ``validation.populations``, named
    ``name``) through which a take counts under ``rule``: those whose own figures pass it, or that have none
    (the population's stand for them: :func:`edge.fusion.evidence.device_weakness`), in the manifest's order.
    A take left out for its device's figures is told to record again through one of these."""
    rule = rule or ValidationRule()
    return [str(device) for device in population.get("devices") or []
            if device_weakness(population, str(device), rule, name=name) is None]


def served_stethoscope_validation(stethoscope: str, chest_piece: str,
                                  rule: Optional[ValidationRule] = None) -> Optional[dict]:
    """:func:`stethoscope_validation` by the crackle model this process serves (the one that scores a
    visit's takes before it is assessed) under ``rule``, or None when the bundle has none."""
    try:
        entry = selected_registry().entry(MODEL_NAME)
    except ModelError:
        return None
    return stethoscope_validation(entry, stethoscope=stethoscope, chest_piece=chest_piece, rule=rule)


def score_recording(source, *, chest_site=None, backend=None, limits=DEFAULT_AUDIO_LIMITS):
    """Score one recording for crackles.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        A WAV or FLAC recording at any rate, width and channel count.
    chest_site : str or None, keyword-only
        Where it was recorded (e.g. ``posterior_basal_left``); echoed in the result.
    backend : edge.inference.models.LoadedModel or None, keyword-only
        The model to use; default the bundled FP32 model on ONNX Runtime CPU.
    limits : audio_models.limits.AudioLimits or None, keyword-only
        Checked on the header before anything is decoded (``Settings.audio_limits``); None
        only for files already admitted under the limits.

    Returns
    -------
    dict
        ``crackle_probability`` (0-1, or None for a silent/empty recording; for a model whose
        manifest has a ``calibration``, the probability that the recording contains fine
        crackles), ``crackle_detected`` (at the manifest threshold), ``quality`` ``{"ok",
        "issues"}`` (rules plus the model's quality head), ``poor_quality_probability``,
        ``windows`` ``[{"start_s", "end_s", "crackle_probability"}]``, ``frame_map``
        ``{"frame_s", "values"}``, ``duration_s``, ``chest_site`` and ``model``
        ``{"name", "version", "variant", "synthetic", "validation", "threshold", "calibration",
        "intended_use"}``.

    Raises
    ------
    audio_models.errors.UnreadableAudioError
        The source cannot be decoded (the caller reports it as an error, not a score); its
        subclass ``AudioLimitError`` when the recording is outside ``limits``.
    audio_models.errors.ModelError
        The model file is missing, fails its sha256 check, or cannot run.
    """
    model = backend if backend is not None else default_model()
    raw, rate = read_audio(source, limits=limits)
    scored = scoring.score_samples(raw, rate, run=model.run, entry=model.entry)
    duration = round(scored["duration_s"], 3)
    result = {"crackle_probability": scored["crackle_probability"], "crackle_detected": scored["crackle_detected"],
              "quality": scored["quality"].to_dict(), "poor_quality_probability": scored["poor_quality_probability"],
              "windows": [], "frame_map": None, "duration_s": duration, "chest_site": chest_site,
              "model": _model_stamp(model)}
    if scored["frame_map"] is not None:
        window_s = model.entry["window_s"]
        result["windows"] = [{"start_s": round(float(s), 3), "end_s": round(min(float(s) + window_s, duration), 3),
                              "crackle_probability": round(float(p), 4)}
                             for s, p in zip(scored["window_starts_s"], scored["window_probabilities"])]
        result["frame_map"] = {"frame_s": model.entry["frame_s"],
                               "values": [round(v, 3) for v in np.asarray(scored["frame_map"], dtype=np.float64).tolist()]}
    logger.debug("scored recording at %s: %s windows, quality ok %s", chest_site, len(result["windows"]),
                 scored["quality"].ok)
    return result


def take_calibration(stamp: dict) -> tuple[Optional[dict], bool]:
    """The calibration of the model that scored a take (its ``stamp``), and whether it is known.

    Stamps keep it since takes shade their windows by it; an older stamp is read as the served
    model's when it is that model (same name and version: variants share a calibration), else it
    is unknown."""
    if "calibration" in stamp:
        return stamp["calibration"], True
    try:
        served = selected_registry().entry(MODEL_NAME)
    except ModelError:
        return None, False
    if (served.get("name"), served.get("version")) != (stamp.get("name"), stamp.get("version")):
        return None, False
    return served.get("calibration"), True


def windows_with_crackles(windows: list[dict], stamp: dict, *, probability: Optional[float]) -> list[dict]:
    """A take's windows, each with ``crackles``: whether the crackle map shades it.

    A window's ``crackle_probability`` is the network's raw output; the take's ``probability`` is
    the calibration of the mean of its top windows, and the take is judged against its model's
    threshold on that calibrated scale. So a window is compared on the same scale: its own score,
    calibrated like the take's, against the take's threshold; a window reaching it would, on its
    own, make a take find crackles. Only a take that found crackles is shaded: since the take's
    score is a mean of its top windows, it then has at least one such window, and a clear take
    (one window above, its neighbours below) shows none, so the map never contradicts the take's
    verdict. ``crackles`` is None when the threshold or the calibration of the take's model is
    unknown (a take of a replaced model stored before stamps kept it: scored again at the next
    assessment)."""
    threshold = stamp.get("threshold")
    calibration, known = take_calibration(stamp)
    if threshold is None or not known:
        return [{**window, "crackles": None} for window in windows]
    found = probability is not None and probability >= threshold
    try:
        return [{**window, "crackles": found and scoring.calibrate_score(window["crackle_probability"],
                                                                          calibration) >= threshold}
                for window in windows]
    except ModelError:  # a calibration this service cannot apply: say unknown rather than guess
        return [{**window, "crackles": None} for window in windows]
