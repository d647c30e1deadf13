"""What each modality contributes to an assessment: the evidence stored for a visit, turned
into a ``ModalityEvidence`` (a likelihood ratio for ILD) by the evidence model
(``edge.fusion.evidence``, written down in docs/evidence.md) with the manifest entry of the
model that produced it.

A modality with nothing usable recorded (no lab results, no breath reading that passed its
quality checks, no lung-site recording of acceptable quality) returns None and is reported
missing.
"""
from __future__ import annotations

import json
import math
from typing import Callable, Collection, NamedTuple, Optional

import sqlite_utils

from audio_models.errors import ModelError
from edge.breath import list_breath_readings, score_stored_features
from edge.fusion.clinical_prior import ClinicalPicture
from edge import regional_validation, site_calibration
from edge.fusion.evidence import (EvidenceOptions, ModalityEvidence, crackle_evidence, crackle_potential_range,
                                  kl6_evidence, kl6_potential_range, stethoscope_free_population, tabular_evidence,
                                  tabular_potential_range, unscorable_evidence)
from edge.inference.bundles import selected_registry
from edge.inference.models import version_label
from edge.labs import ModelUnavailable, list_lab_results, score_stored_results
from edge.auscultation import ADULT_FIGURES, ONE_DEVICE_FIGURES, device_parts, stethoscope_validation
from edge.vocabulary import CHEST_PIECE_NOT_STATED, STETHOSCOPE_NOT_STATED

ModalityScorer = Callable[[sqlite_utils.Database, int, ClinicalPicture, EvidenceOptions], Optional[ModalityEvidence]]


def manifest_entry(name: str) -> dict:
    """A model's manifest entry in the bundle this process serves (its manifest was read once, at
    selection: assessments are a hot path)."""
    try:
        return selected_registry().entry(name)
    except ModelError as exc:
        raise ModelUnavailable(f"the {name} model is not available: {exc}") from exc


class ServedCrackleModel(NamedTuple):
    """What an assessment keeps of the served crackle model, read from one reading of its manifest
    entry: ``threshold`` (the crackle probability from which a take finds crackles), ``adults``
    (its patient-level figures on held-out adults: those of the population a take naming no stethoscope
    counts with, :func:`edge.fusion.evidence.stethoscope_free_population`, ``adults`` when present) and
    ``populations`` (every population's, ``validation.populations``); each None when the entry has none or
    the model is not available."""

    threshold: Optional[float]
    adults: Optional[dict]
    populations: Optional[dict] = None

    def counted_figures(self, evidence: Optional[ModalityEvidence]) -> Optional[dict]:
        """The figures the nurse's note quotes for a visit's lung-sound ``evidence``: those it counted
        with (one device's when the takes went through devices with figures of their own, ``detector_device``:
        their one device's, or the least informative of several, else their population's,
        ``detector_population_key``); ``adults`` when no adult population's figures counted it (None without).
        Each says whose they are, so the note can word that population: ``population_key`` (``adults``,
        ``adults_<folder>``) and ``figures_over`` (``device`` or ``weakest_device``, with that ``device``, or
        ``all_devices``)."""
        finding = evidence.finding if evidence is not None else {}
        if finding.get("detector_device"):
            device = finding["detector_device"]
            return {**device["figures"], "population_key": device["population"],
                    "figures_over": finding.get("figures_over", "device"), "device": device["device"]}
        populations = self.populations or {}
        key = finding.get("detector_population_key")
        if not key or finding.get("detector_transfer") or not populations.get(key):
            key = stethoscope_free_population(populations)
        return {**populations[key], "population_key": key, "figures_over": "all_devices"} if key and \
            populations.get(key) else self.adults


def served_crackle_model() -> ServedCrackleModel:
    """The served crackle model's threshold and adult figures (:class:`ServedCrackleModel`).

    Read from the bundle this process serves each time it is called, never cached: the service
    keeps its bundle until it restarts, and the next process reads the switched one."""
    try:
        entry = manifest_entry("auscultation")
    except ModelUnavailable:
        return ServedCrackleModel(None, None)
    populations = (entry.get("validation") or {}).get("populations") or {}
    return ServedCrackleModel(entry.get("threshold"), populations.get(stethoscope_free_population(populations)) or None,
                              populations)


class ServedVersion(NamedTuple):
    """The served model of a modality as a result names it: ``labels``, what an assessment's
    ``model_versions`` says for that modality when this model scored it (the crackle model's one
    per variant: a take keeps the variant that scored it, and variants of one version share its
    calibration and threshold, so they are not scored again); ``threshold``, the crackle model's
    (None for a tabular model)."""

    labels: tuple[str, ...]
    threshold: Optional[float]


def served_version(modality: str) -> ServedVersion:
    """The model the bundle this process serves scores ``modality`` with (:class:`ServedVersion`).

    Raises ``ModelUnavailable`` when the bundle has none."""
    entry = manifest_entry(modality)
    if modality != "auscultation":  # a tabular score is stamped with the modality's name
        return ServedVersion((version_label(modality, entry["version"]),), None)
    try:
        variants = selected_registry().variant_files(modality)
    except ModelError as exc:
        raise ModelUnavailable(f"the {modality} model is not available: {exc}") from exc
    return ServedVersion(tuple(version_label(entry["name"], entry["version"], variant) for variant in variants),
                         entry.get("threshold"))


def site_validation(modality: str) -> Optional[dict]:
    """The status the clinic's own outcomes gave a modality (``ildscreen calibrate --apply``), or None."""
    active = site_calibration.selected_calibration().active
    return (active.modalities or {}).get(modality) if active is not None else None


def region_validation(modality: str) -> Optional[dict]:
    """The region's figures for a modality from the regional validation this process selected at
    start (``ildscreen regional-validation install``), or None."""
    return regional_validation.selected_regional_validation().figures(modality)


def scored_evidence(modality: str, probability: float, model: dict,
                    options: Optional[EvidenceOptions] = None) -> ModalityEvidence:
    """Evidence from a fresh tabular score (``model`` is the stamp of the score's result)."""
    options = options or EvidenceOptions()
    return tabular_evidence(modality, probability, manifest_entry(modality),
                            model_version=version_label(model["name"], model["version"]), site=site_validation(modality),
                            rule=options.validation_rule, region=region_validation(modality))


def labs_evidence(db: sqlite_utils.Database, visit_id: int, picture: ClinicalPicture,
                  options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """The visit's lab results: the lab model when it counts (it reads KL-6 itself); otherwise a
    KL-6, when entered, by its published accuracy; otherwise the model's output, not counted."""
    results = list_lab_results(db, visit_id)
    if not results:
        return None
    return labs_evidence_from_results(results, options)


def labs_evidence_from_results(results: list[dict], options: EvidenceOptions) -> ModalityEvidence:
    """:func:`labs_evidence` for stored lab rows (``loinc``/``analyte``, ``si_value``, ``si_unit``)."""
    # Raises ModelUnavailable without a usable model: the assessment is refused rather than
    # computed as if the entered results did not exist.
    return labs_evidence_from_score(score_stored_results(results), options)


def labs_evidence_from_score(score: dict, options: EvidenceOptions) -> ModalityEvidence:
    """A scored panel (``edge.labs.score_lab_panel``) as labs evidence: the model when it counts,
    else the panel's KL-6 (newest value) by its published accuracy, else the model not counted."""
    model = scored_evidence("labs", score["probability"], score["model"], options)
    kl6 = (score.get("normalized") or {}).get("kl6")
    if model.finding.get("counted") or kl6 is None or math.isnan(kl6):
        return model
    return kl6_evidence(kl6, options=options, measured_model={"model_version": model.model_version, **model.finding})


def breath_evidence(db: sqlite_utils.Database, visit_id: int, picture: ClinicalPicture,
                    options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """The newest breath reading of the visit that passed its quality checks, scored from its stored
    features by the served breath model (``edge.breath.score_stored_features``), whose manifest entry
    weighs it: the reading keeps the score it was read with, for the record, and the result names the
    model that scored it here. Features that model cannot take make the reading not counted, saying
    why (``edge.fusion.evidence.unscorable_evidence``). Raises ModelUnavailable without a breath model,
    as :func:`labs_evidence` does: the assessment is refused rather than computed without the reading."""
    usable = [reading for reading in list_breath_readings(db, visit_id) if reading["features"] is not None]
    if not usable:
        return None
    scored, entry = score_stored_features(usable[-1]["features"]), manifest_entry("breath")
    if scored.probability is None:
        return unscorable_evidence("breath", entry, model_version=scored.model_version, reason=scored.unscorable)
    return tabular_evidence("breath", scored.probability, entry, model_version=scored.model_version,
                            site=site_validation("breath"), rule=options.validation_rule,
                            region=region_validation("breath"))


#: Statuses of edge.auscultation.stethoscope_validation whose takes never count, clear or positive: the
#: crackle model's likelihood ratios were earned in adults on other devices (issue 24).
STETHOSCOPE_STATUSES_NEVER_COUNT = ("not_validated", "not_in_adults")


#: Why a take's stethoscope does not let it count (:func:`stethoscope_verdict`): ``device_figures``, its device's
#: own figures fail the validation rule; ``not_validated``, the adults' validation never went through that
#: stethoscope or stated chest piece; ``required``, it names none (or no chest piece) and the programme requires
#: a named, validated one.
STETHOSCOPE_VERDICTS = ("device_figures", "not_validated", "required")


def stethoscope_verdict(result: dict, *, require_validated_stethoscope: bool = False) -> Optional[str]:
    """Whether a take's stethoscope lets it count at all, by its ``stethoscope_validation`` (a take without one
    reads as ``not_stated``): None when it does, else why not (one of ``STETHOSCOPE_VERDICTS``). The one home
    of that verdict: the risk, the chest map, the result's lung-sound line (:func:`why_not_heard`), the take's
    line and ``ildscreen screen`` read it.

    A validated take counts, unless its device's own figures fail the validation rule while its population's
    pass (``device_counts`` False, decided when the take is read under the programme's rule:
    :func:`edge.fusion.evidence.device_weakness`; ``device_figures``); one through a stethoscope the adults'
    validation never went through (``STETHOSCOPE_STATUSES_NEVER_COUNT``), or through a stated chest piece it
    did not go through (``chest_piece_not_validated``), never does (``not_validated``). A take that names no
    stethoscope, or a validated one without its chest piece, counts unless ``require_validated_stethoscope``
    (the setting ``evidence_require_validated_stethoscope``, docs/evidence.md; ``required``)."""
    validation = result.get("stethoscope_validation") or {}
    status = validation.get("status", "not_stated")
    if status == "validated":
        return "device_figures" if validation.get("device_counts", True) is False else None
    if status in STETHOSCOPE_STATUSES_NEVER_COUNT:
        return "not_validated"
    if status == "chest_piece_not_validated" and result.get("chest_piece", CHEST_PIECE_NOT_STATED) != CHEST_PIECE_NOT_STATED:
        return "not_validated"
    return "required" if require_validated_stethoscope else None


def stethoscope_counts(result: dict, *, require_validated_stethoscope: bool = False) -> bool:
    """Whether a take's stethoscope lets it count at all: :func:`stethoscope_verdict` gives no reason not to."""
    return stethoscope_verdict(result, require_validated_stethoscope=require_validated_stethoscope) is None


def counts_for_its_site(result: dict, *, threshold: Optional[float], cannot_clear: Collection[str],
                        require_validated_stethoscope: bool = False) -> bool:
    """Whether an accepted recording (quality ok, scored) counts for its chest site: not when its
    stethoscope does not count (:func:`stethoscope_counts`, whatever it found); else always, except a
    recording through a chest piece in ``cannot_clear`` that finds no crackles (below ``threshold``;
    None, when no threshold is known: never counts). Through the Littmann 3200's bell filter the
    detector found 1 of 9 KAUH adults with crackles, through its diaphragm filter 6 of 8, over all
    37 KAUH adults (22 of them chose the threshold); on the 15 test adults alone 0 of 3 and 3 of 3
    (docs/evidence.md, model 0.6.0): a clear bell recording is nearly blind and must not
    make its site heard, while crackles found through it are still crackles. A recording that
    states no chest piece counts as ``not_stated``.

    A take is judged by the threshold of the model that scored it (``crackle_threshold``, kept
    with its score), ``threshold`` only for one that kept none: its probability means what its
    own model meant (:func:`take_threshold`)."""
    return stethoscope_counts(result, require_validated_stethoscope=require_validated_stethoscope) and \
        not _clear_through_piece_that_cannot_clear(result, threshold=threshold, cannot_clear=cannot_clear)


def _clear_through_piece_that_cannot_clear(result: dict, *, threshold: Optional[float],
                                           cannot_clear: Collection[str]) -> bool:
    """Whether a scored take went through a chest piece in ``cannot_clear`` and found no crackles (below its
    threshold, :func:`take_threshold`; with none known, read as clear)."""
    if result.get("chest_piece", CHEST_PIECE_NOT_STATED) not in cannot_clear:
        return False
    threshold = take_threshold(result, threshold)
    return threshold is None or float(result["crackle_probability"]) < threshold


def devices_that_can_clear(devices: Optional[Collection[str]], cannot_clear: Collection[str]) -> Optional[list[str]]:
    """Of ``devices`` (the manifest's names of the devices a take counts through: its ``stethoscope_validation``'s
    ``devices_counting``), those whose clear take makes its site heard (:func:`counts_for_its_site`): a chest
    piece not in ``cannot_clear``, or none named (validated whatever the piece). What a clear take through a
    piece that cannot rule crackles out is told to record through instead; None when ``devices`` is (nothing
    says which count).

    Examples
    --------
    >>> devices_that_can_clear(["S bell", "S diaphragm", "Scope B"], ["bell"])
    ['S diaphragm', 'Scope B']
    """
    if devices is None:
        return None
    return [device for device in devices if device_parts(device)[1] not in cannot_clear]


#: Why a take leaves its chest site unheard (:func:`why_not_heard`), in the order a line naming several gives them.
NOT_HEARD_REASONS = ("waiting_score", "device_figures", "stethoscope", "cannot_clear", "refused")


def why_not_heard(result: dict, *, threshold: Optional[float], cannot_clear: Collection[str],
                  require_validated_stethoscope: bool = False) -> Optional[str]:
    """Why a take does not make its chest site heard (one of ``NOT_HEARD_REASONS``), or None when it does
    (:func:`counts_for_its_site`). ``refused``: the quality gate refused it; ``waiting_score``: the gate did
    not refuse it but it has no crackle probability (the model was unavailable); ``device_figures`` and
    ``stethoscope``: its stethoscope does not let it count (:func:`stethoscope_verdict`, the one verdict:
    ``device_figures`` as it says, ``stethoscope`` for its other reasons); ``cannot_clear``: it found no
    crackles through a chest piece in ``cannot_clear``. The visit's lung-sound line and ``ildscreen screen``
    name these reasons from here."""
    quality = result.get("quality")
    if result.get("crackle_probability") is None:
        return "refused" if quality and not quality.get("ok") else "waiting_score"
    if not (quality and quality.get("ok")):
        return "refused"
    verdict = stethoscope_verdict(result, require_validated_stethoscope=require_validated_stethoscope)
    if verdict is not None:
        return "device_figures" if verdict == "device_figures" else "stethoscope"
    if _clear_through_piece_that_cannot_clear(result, threshold=threshold, cannot_clear=cannot_clear):
        return "cannot_clear"
    return None


def take_threshold(result: dict, threshold: Optional[float]) -> Optional[float]:
    """The threshold a take's crackle probability is read against: that of the model that scored it
    (``crackle_threshold``), else ``threshold``. After a model update the takes of a visit are scored
    again before it is assessed (``edge.recordings.rescore_takes_of_other_models``), but until then
    a take scored by the previous model must not be read against the new model's threshold."""
    own = result.get("crackle_threshold")
    return float(own) if own is not None else threshold


def counted_takes(results: list[dict], *, threshold: Optional[float] = None, cannot_clear: Collection[str] = (),
                  require_validated_stethoscope: bool = False) -> list[dict]:
    """The accepted recordings (quality ok, scored) that count for their chest site
    (:func:`counts_for_its_site`); refused ones count for nothing."""
    return [result for result in results
            if result["quality"]["ok"] and result["crackle_probability"] is not None
            and counts_for_its_site(result, threshold=threshold, cannot_clear=cannot_clear,
                                    require_validated_stethoscope=require_validated_stethoscope)]


def site_probabilities(results: list[dict], *, threshold: Optional[float] = None,
                       cannot_clear: Collection[str] = (),
                       require_validated_stethoscope: bool = False) -> dict[str, Optional[float]]:
    """Each chest site's finding: the **maximum** crackle probability over its accepted recordings
    (quality ok, scored) that count for it (:func:`counted_takes`: a clear recording through
    a chest piece in ``cannot_clear`` does not, nor any through a stethoscope that does not count);
    None for a site with none. Never a mean: a clear
    second recording must not hide crackles heard in the first (fine crackles come and go with
    breaths and posture), and this is the rule the detector's patient-level validation used.
    Refused recordings count for nothing."""
    return _site_maxima(results, counted_takes(results, threshold=threshold, cannot_clear=cannot_clear,
                                               require_validated_stethoscope=require_validated_stethoscope))


def _site_maxima(results: list[dict], counted: list[dict]) -> dict[str, Optional[float]]:
    """Each chest site of ``results``: the maximum probability of its ``counted`` takes, None without."""
    by_site: dict[str, list[float]] = {result.get("chest_site") or "unknown": [] for result in results}
    for result in counted:
        by_site[result.get("chest_site") or "unknown"].append(float(result["crackle_probability"]))
    return {site: (max(values) if values else None) for site, values in by_site.items()}


def take_populations(results: list[dict]) -> list[Optional[str]]:
    """The adult validation population of each take's device (its ``stethoscope_validation``'s
    ``population``; None for a take naming no stethoscope): whose figures its evidence counts with
    (:func:`edge.fusion.evidence.detector_validation`)."""
    return [(result.get("stethoscope_validation") or {}).get("population") for result in results]


def auscultation_evidence_from_results(results: list[dict], picture: ClinicalPicture,
                                       options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """The visit's crackle finding from scored recordings (quality-failed ones left out, clear ones
    through a chest piece in ``options.chest_pieces_cannot_clear``, and any through a stethoscope the
    crackle model's manifest does not validate, or whose device's own figures fail the validation rule:
    :func:`stethoscope_counts`). A result without its ``stethoscope_validation`` is read against the served
    manifest by its ``stethoscope`` (not stated when it has none), under ``options.validation_rule``. The
    counted takes count with their devices' adult population's figures (:func:`take_populations`), or,
    when each went through a device with figures of its own (:func:`counted_device`), with their one device's,
    or the least informative of several (:func:`edge.fusion.evidence.detector_validation`; ``detector_device``
    keeps them for the nurse's note); the finding lists the accepted takes left out for their device's
    figures (``devices_not_counted``)."""
    if not results:
        return None
    stamp = results[0]["model"]
    entry = manifest_entry("auscultation")
    results = [result if "stethoscope_validation" in result else
               {**result, "stethoscope_validation": stethoscope_validation(
                   entry, stethoscope=result.get("stethoscope", STETHOSCOPE_NOT_STATED),
                   chest_piece=result.get("chest_piece", CHEST_PIECE_NOT_STATED), rule=options.validation_rule)}
               for result in results]
    rule = {"threshold": entry.get("threshold"), "cannot_clear": options.chest_pieces_cannot_clear,
            "require_validated_stethoscope": options.require_validated_stethoscope}
    counted = counted_takes(results, **rule)
    sites = _site_maxima(results, counted)
    evidence = crackle_evidence(sites, entry, ctd_diagnosis=picture.ctd_diagnosis, options=options,
                                site=site_validation("auscultation"), region=region_validation("auscultation"),
                                take_populations=take_populations(counted),
                                devices=[counted_device(take) for take in counted],
                                model_version=version_label(stamp["name"], stamp["version"], stamp["variant"]))
    if evidence is None:
        return None
    if evidence.finding.get("figures_over") in ONE_DEVICE_FIGURES:
        # The manifest's figures it counted with, as the take through that device quotes them, for the nurse's note.
        own = next(take["stethoscope_validation"] for take in counted if counted_device(take) == evidence.finding["device"])
        evidence.finding["detector_device"] = {"population": own["population"], "device": own["device"],
                                               "figures": {key: own[key] for key in ADULT_FIGURES}}
    device_figures = [r["stethoscope_validation"] for r in results if r["quality"]["ok"]
                      and r["crackle_probability"] is not None and stethoscope_verdict(r) == "device_figures"]
    left_out = {(v["device"], v["device_reason_code"], v["device_reason"]) for v in device_figures}
    if left_out:
        evidence.finding["devices_not_counted"] = [{"device": device_name, "reason_code": code, "reason": reason}
                                                   for device_name, code, reason in sorted(left_out)]
    return evidence


def counted_device(take: dict) -> Optional[str]:
    """The device a take went through when its population has figures of its own for it (its
    ``stethoscope_validation``'s ``figures_over: "device"``), whose figures it counts with; None for a take
    through a device without them, or naming no stethoscope (its population's pooled figures stand for it)."""
    validation = take.get("stethoscope_validation") or {}
    return validation.get("device") if validation.get("figures_over") == "device" else None


def auscultation_evidence(db: sqlite_utils.Database, visit_id: int, picture: ClinicalPicture,
                          options: EvidenceOptions) -> Optional[ModalityEvidence]:
    """Scored recordings of the visit, per chest site, as one patient-level crackle finding."""
    rows = db.execute_returning_dicts(
        "SELECT chest_site, chest_piece, stethoscope, quality, crackle_probability, result FROM recordings "
        "WHERE visit_id = ? AND result IS NOT NULL ORDER BY id", [visit_id])
    results = []
    for row in rows:
        stamp = json.loads(row["result"])["model"]
        results.append({"chest_site": row["chest_site"], "chest_piece": row["chest_piece"], "stethoscope": row["stethoscope"],
                        "quality": json.loads(row["quality"]), "crackle_probability": row["crackle_probability"],
                        "model": stamp, "crackle_threshold": stamp.get("threshold")})
    return auscultation_evidence_from_results(results, picture, options)


def potential_ranges(picture: ClinicalPicture,
                     options: Optional[EvidenceOptions] = None) -> dict[str, Optional[tuple[float, float]]]:
    """Per modality, the log-LR range it would plausibly give if measured ((0, 0) when it would
    not count; None when its model is not available). Labs: the lab model's range when it
    counts, else a KL-6's."""
    options = options or EvidenceOptions()
    ranges: dict[str, Optional[tuple[float, float]]] = {}
    for name in ("auscultation", "breath", "labs"):
        try:
            entry = manifest_entry(name)
        except ModelUnavailable:
            ranges[name] = kl6_potential_range() if name == "labs" else None
            continue
        if name == "auscultation":
            ranges[name] = crackle_potential_range(entry, ctd_diagnosis=picture.ctd_diagnosis, options=options,
                                                   site=site_validation(name), region=region_validation(name))
            continue
        ranges[name] = tabular_potential_range(entry, name=name, site=site_validation(name),
                                               rule=options.validation_rule, region=region_validation(name))
        if name == "labs" and ranges[name] == (0.0, 0.0):
            ranges[name] = kl6_potential_range()
    return ranges


SCORERS: dict[str, ModalityScorer] = {"auscultation": auscultation_evidence, "breath": breath_evidence,
                                      "labs": labs_evidence}
