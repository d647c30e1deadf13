"""What the tablet pages show, computed from stored records: the visit checklist, the result
in words, lab rows with reference flags, readable units and CT metrics.

Pure functions of dicts (no Flask): the templates only lay them out, and the unit tests call
them directly. The result reads the assessment's own fields (edge.screening: the guideline line
and advice, each modality's applied likelihood ratio and crackle finding, the validation summary);
only the analytes behind the labs' direction are taken from the visit's records.
"""
from __future__ import annotations

from typing import Collection, Optional

from edge.auscultation import device_parts
from edge.fusion.evidence import ADULT_POPULATION
from edge.labs import newest_of_each_analyte
from edge.modalities import (NOT_HEARD_REASONS, counts_for_its_site, devices_that_can_clear, stethoscope_counts,
                             stethoscope_verdict, take_threshold, why_not_heard)
from edge.patients import VISIT_STEPS
from edge.recordings import awaits_score, is_accepted
from edge.web.i18n import CATALOG, bracketed, join_alternatives, join_groups, join_list, join_sentences, translate
from edge.vocabulary import CHEST_PIECE_NOT_STATED, CHEST_PIECES, STETHOSCOPE_NOT_STATED
from tabular_models.lab_catalogue import ANALYTES

# A likelihood ratio this close to 1 moved the risk too little to call it raised or lowered.
# Programme assumption (display only): within ±10 % the modality "barely changed" the risk.
NEUTRAL_LR = (1 / 1.1, 1.1)
# Interval narrower than this (in probability) is shown as "no interval": 100–100 is false certainty.
SHOWN_INTERVAL_MIN_WIDTH = 0.01

# CT metrics of the hospital report (imaging_server/fhir_report.py): key -> (label key, unit).
# Issue 18 adds ILD extent, nodules and bone: one row each here and a label in i18n.
CT_METRICS: dict[str, tuple[str, str]] = {
    "haa_percent": ("ct_haa_percent", "%"),
    "laa_percent": ("ct_laa_percent", "%"),
    "mean_lung_density_hu": ("ct_mean_lung_density_hu", "HU"),
    "lung_volume_ml": ("ct_lung_volume_ml", "mL"),
}

# UCUM spellings as a nurse reads them on a printed report.
READABLE_UNITS = {
    "10*9/L": "×10⁹/L", "10*12/L": "×10¹²/L", "10*3/uL": "×10³/µL", "10*6/uL": "×10⁶/µL", "/uL": "/µL",
    "umol/L": "µmol/L", "ukat/L": "µkat/L", "fL": "fL", "mm/h": "mm/h", "[IU]/L": "IU/L", "meq/L": "mEq/L", "mm/[hr]": "mm/h",
    "ug/mL": "µg/mL", "[U]/mL": "U/mL",
}

ANALYTE_BY_KEY = {analyte.key: analyte for analyte in ANALYTES}
ANALYTE_BY_LOINC = {code: analyte for analyte in ANALYTES for code in analyte.loinc}



def readable_unit(unit: Optional[str]) -> str:
    """A UCUM unit as printed on lab reports (``10*9/L`` -> ``×10⁹/L``)."""
    return READABLE_UNITS.get(unit or "", unit or "")


def lab_rows(results: list[dict]) -> list[dict]:
    """Stored lab results (oldest first, as edge.labs.list_lab_results gives them) with the analyte
    key, the SI value and a high/low flag against the catalogue's adult reference range
    (tabular_models.lab_catalogue, display only). A value of an analyte entered again later (a
    correction) is ``superseded`` (:func:`edge.labs.newest_of_each_analyte`): never flagged, nor
    printed on a letter as if it counted."""
    rows = []
    counted = {id(row) for row in newest_of_each_analyte(results)}
    for row in results:
        analyte = ANALYTE_BY_KEY.get(row["analyte"]) or ANALYTE_BY_LOINC.get(row.get("loinc") or "")
        flag = None
        if analyte and analyte.reference and row.get("si_value") is not None:
            low, high = analyte.reference
            flag = "high" if row["si_value"] > high else "low" if row["si_value"] < low else None
        rows.append({
            **row,
            "key": analyte.key if analyte else row["analyte"],
            "unit_text": readable_unit(row["unit"]),
            "si_unit_text": readable_unit(row.get("si_unit")),
            "reference": analyte.reference if analyte else None,
            "flag": flag if id(row) in counted else None,
            "superseded": id(row) not in counted,
        })
    return rows


def makes_its_site_heard(recording: dict, *, threshold: Optional[float], cannot_clear: Collection[str],
                         require_validated_stethoscope: bool = False) -> bool:
    """Whether a take makes its chest site heard: accepted (:func:`edge.recordings.is_accepted`) and
    counted for its site (:func:`edge.modalities.counts_for_its_site`: a clear take through a chest
    piece in ``cannot_clear``, the bell by default, is not, nor any take through a stethoscope the
    crackle model was not validated on). The chest map, the checklist and the result's lung-sound
    line all ask this, so they agree with the risk."""
    return is_accepted(recording) and counts_for_its_site(recording, threshold=threshold, cannot_clear=cannot_clear,
                                                          require_validated_stethoscope=require_validated_stethoscope)


def takes_waiting_score(recordings: list[dict]) -> set[int]:
    """The ids of the takes that wait to be scored (:func:`edge.recordings.awaits_score`): each gets
    a line saying so, and what to do, since it leaves its site (and the lung-sounds step) to do."""
    return {r["id"] for r in recordings if awaits_score(r)}


def checklist(visit: dict, *, recordings: list[dict], breath_readings: list[dict], lab_results: list[dict],
              patient: dict, threshold: Optional[float], cannot_clear: Collection[str],
              require_validated_stethoscope: bool = False) -> dict[str, str]:
    """Each step's state: ``done``, ``skipped`` or ``pending``.

    Lung sounds are done once a take makes its site heard (:func:`makes_its_site_heard`, with the
    crackle ``threshold`` and the pieces that ``cannot_clear``), the rule the chest map and the risk
    follow: clear takes through the bell, takes through a stethoscope the crackle model was not
    validated on, and takes still waiting to be scored
    (:func:`edge.recordings.awaits_score`: the model was unavailable), leave the step to do. A
    waiting take is not yet known to be usable or to clear its site; the page says it waits
    (:func:`takes_waiting_score`)."""
    done = {
        "auscultation": any(makes_its_site_heard(r, threshold=threshold, cannot_clear=cannot_clear,
                                                 require_validated_stethoscope=require_validated_stethoscope)
                            for r in recordings),
        "breath": any(r.get("quality") and r["quality"].get("ok") for r in breath_readings),
        "labs": bool(lab_results),
        "lung_function": visit.get("lung_function", {}).get("fvc_percent") is not None,
        "symptoms": bool(patient.get("symptoms")) or bool(visit.get("symptoms_reviewed_at")),
    }
    skipped = set(visit.get("skipped_steps", []))
    return {step: "done" if done[step] else "skipped" if step in skipped else "pending" for step in VISIT_STEPS}


def _direction(likelihood_ratio: float) -> str:
    if likelihood_ratio >= NEUTRAL_LR[1]:
        return "raised"
    if likelihood_ratio <= NEUTRAL_LR[0]:
        return "lowered"
    return "unchanged"


def _drivers(assessment: dict, recordings: list[dict], lab_rows_: list[dict]) -> list[dict]:
    """Per modality: raised/lowered/unchanged, by how much, and the sites or analytes behind it."""
    drivers = []
    for modality, item in assessment.get("contributions", {}).items():
        if modality == "clinical_prior":
            continue
        # What the risk used, after the evidence model's cap and dependence weight.
        ratio = item.get("applied_likelihood_ratio", item["likelihood_ratio"])
        direction = _direction(ratio)
        names: list[tuple[str, str]] = []  # (kind, code): kind 'site' or 'analyte'
        if modality == "auscultation":
            finding = item.get("finding") or {}
            if direction == "raised":
                codes = [*finding.get("positive_basal_sites", []), *finding.get("positive_other_sites", [])]
            else:
                codes = [site for site, p in (finding.get("sites") or {}).items() if p is not None]
            names = [("site", code) for code in dict.fromkeys(codes)]
        elif modality == "labs":
            names = [("analyte", row["key"]) for row in lab_rows_ if row["flag"]]
        drivers.append({"modality": modality, "direction": direction,
                        "factor": ratio if ratio >= 1 else 1 / ratio, "names": names})
    return drivers


def _not_measured(assessment: dict, lab_rows_: list[dict]) -> dict[str, list[str]]:
    """By name: the modalities that gave nothing, and the core analytes not entered."""
    entered = {row["key"] for row in lab_rows_}
    missing_analytes = [a.key for a in ANALYTES
                        if a.key not in entered and not a.key.endswith("_pct") and a.percent_of is None]
    return {"modalities": list(assessment.get("missing", [])), "analytes": missing_analytes if entered else []}


def lung_sounds(assessment: dict, recordings: list[dict], *, threshold: Optional[float],
                cannot_clear: Collection[str], require_validated_stethoscope: bool = False) -> Optional[dict]:
    """What the result says about lung sounds, from the assessment's own finding: the crackle
    level at the sites with a usable take (``sites_heard``), whether it counted (and why not), and
    the protocol's basal sites that were not heard (``bases_not_heard``: no take, only takes the
    quality gate refused, or only takes that do not count for their site).

    A usable take is one that makes its site heard (:func:`makes_its_site_heard`). None when the
    assessment had no lung sounds and the visit has no take, or a usable take came after it (the
    missing list says so until the risk is calculated again). With no usable take there is no
    finding (``level`` None), every base is not heard, and :func:`not_heard_text` says why from
    ``not_heard``: each reason the visit's takes left their sites unheard
    (:func:`edge.modalities.why_not_heard`, in ``NOT_HEARD_REASONS`` order), the validations of the
    takes left out for their device's own figures (``devices_left_out``, one per device), and the devices
    the clear takes through a piece that cannot rule crackles out are to be recorded again through
    (``clear_through``: those that count and can clear, from the takes' own ``devices_counting``:
    :func:`edge.modalities.devices_that_can_clear`; None when none of those takes says which count), and
    those takes' own pieces (``cannot_clear_pieces``, each once), which the line names.
    """
    rule = {"threshold": threshold, "cannot_clear": cannot_clear,
            "require_validated_stethoscope": require_validated_stethoscope}
    item = assessment.get("contributions", {}).get("auscultation")
    if item is None and (not recordings or any(makes_its_site_heard(r, **rule) for r in recordings)):
        return None
    reasons = [(why_not_heard(r, **rule), r) for r in recordings]
    left_out = {}  # one validation per device, for its name and why its figures fail
    for reason, r in reasons:
        if reason == "device_figures":
            left_out.setdefault(r["stethoscope_validation"]["device"], r["stethoscope_validation"])
    counting = [(r.get("stethoscope_validation") or {}).get("devices_counting") for reason, r in reasons
                if reason == "cannot_clear"]
    said = [device for devices in counting if devices is not None for device in devices]
    pieces = {r.get("chest_piece", CHEST_PIECE_NOT_STATED) for reason, r in reasons if reason == "cannot_clear"}
    clear_through = devices_that_can_clear(list(dict.fromkeys(said)), cannot_clear) if any(
        devices is not None for devices in counting) else None
    finding = (item or {}).get("finding") or {}
    protocol = finding.get("protocol_basal_sites") or \
        (assessment.get("evidence_options") or {}).get("protocol_basal_sites") or []
    heard = list(finding.get("sites") or {})
    return {
        "level": finding.get("level"),
        "sites_heard": heard,
        "counted": bool(item) and item.get("counted", True),
        "reason_code": (item or {}).get("reason_code"),
        "bases_not_heard": [site for site in protocol if site not in heard],
        "not_heard": {"reasons": [code for code in NOT_HEARD_REASONS if code in {reason for reason, _ in reasons}],
                      "devices_left_out": list(left_out.values()), "clear_through": clear_through,
                      "cannot_clear_pieces": [piece for piece in CHEST_PIECES if piece in pieces]},
    }


#: Who reads a lung-sound line: the clinic's nurse (an open visit's line says what to do next, a closed visit's
#: that a new visit records again) or the hospital's clinician, whose referral letter states facts only: what was
#: heard, what did not count and why, never what to record.
LUNG_SOUND_READERS = ("nurse", "hospital")


def not_heard_text(sounds: dict, lang: str, *, visit_status: str, reader: str = "nurse") -> str:
    """The result's lung-sound line when no site was heard (``sounds``: :func:`lung_sounds`), in ``lang``:
    every take refused (``lung_sounds_no_usable``); else that no site is heard yet, then each reason the
    takes give (:func:`why_not_heard_sentences`): a take waits to be scored, takes through a device whose own
    figures fail the validation rule, through a stethoscope or chest piece the model was not validated on,
    clear takes through a piece that cannot rule crackles out, takes the quality gate refused.

    To the nurse (``reader``) of an open visit each reason comes with what to do about it. A closed visit's line
    (``visit_status`` not ``open``) is its record: nothing records or scores its takes any more
    (:func:`edge.patients.require_open_visit`), so it says what was not heard at that visit and why, with
    no "record again" nor Calculate, and ends saying a new visit records the lung sounds. The hospital's
    (the referral letter, whatever the visit's status) says what was not heard at that visit and why, and no
    more: the hospital records nothing."""
    advise = lung_sound_advice_given(visit_status, reader)
    reasons = sounds["not_heard"]["reasons"]
    if reasons in ([], ["refused"]):
        return translate("lung_sounds_no_usable" if advise else "lung_sounds_no_usable_closed", lang)
    sentences = [translate("lung_sounds_none_heard" if advise else "lung_sounds_none_heard_closed", lang)]
    for reason in reasons:
        sentences += why_not_heard_sentences(reason, sounds["not_heard"], lang, visit_status=visit_status,
                                             advise=advise)
    if reader == "nurse" and visit_status != "open":
        sentences.append(translate("lung_sounds_closed_new_visit", lang))
    return join_sentences(sentences, lang)


def lung_sound_advice_given(visit_status: str, reader: str) -> bool:
    """Whether a lung-sound line read by ``reader`` (``LUNG_SOUND_READERS``) on a visit of ``visit_status`` says
    what to do: only the nurse's, on an open visit."""
    if reader not in LUNG_SOUND_READERS:
        raise ValueError(f"reader must be one of {LUNG_SOUND_READERS}, got {reader!r}")
    return reader == "nurse" and visit_status == "open"


def not_counted_text(modality: str, reason_code: Optional[str], lang: str, *, visit_status: str,
                     reader: str = "nurse") -> str:
    """Why a measured ``modality`` did not count (``reason_code``: ``edge.fusion.evidence.REASON_CODES``; None
    reads ``no_patient_validation``), in ``lang``: the result's lung-sound sentence for ``auscultation``
    (``lung_sounds_not_counted``), else the line of the result's list (``not_counted_line``); then, for a reason
    the nurse can act on (``not_counted_record_again_*``: record the sites again), that sentence, when
    :func:`lung_sound_advice_given` (her page of an open visit; never a closed visit's nor the letter)."""
    code = reason_code or "no_patient_validation"
    reason = translate(f"not_counted_{code}", lang)
    sentences = [translate("lung_sounds_not_counted", lang, reason=reason) if modality == "auscultation" else
                 translate("not_counted_line", lang, modality=translate(f"modality_{modality}", lang), reason=reason)]
    if f"not_counted_record_again_{code}" in CATALOG and lung_sound_advice_given(visit_status, reader):
        sentences.append(translate(f"not_counted_record_again_{code}", lang))
    return join_sentences(sentences, lang)


def why_not_heard_sentences(reason: str, not_heard: dict, lang: str, *, visit_status: str,
                            advise: bool) -> list[str]:
    """The sentences of one ``reason`` (``edge.modalities.NOT_HEARD_REASONS``) of :func:`not_heard_text`
    (``not_heard``: :func:`lung_sounds`' own): what happened, then, when it ``advise``s, what to do about it.
    A take waiting to be scored (on a closed visit: that it stays unscored); takes through a device whose own
    figures fail the validation rule (naming it, why, and the devices that count: :func:`record_again_through`);
    through a stethoscope or chest piece the model was not validated on; clear takes through a piece that cannot
    rule crackles out (naming those takes' pieces and the devices that count and can:
    :func:`record_again_clearing`); refused takes."""
    if reason == "waiting_score":  # its open sentence says both what helps: Calculate again, or record again
        key = ("lung_sounds_waiting_score" if advise else "lung_sounds_waiting_score_closed"
               if visit_status != "open" else "lung_sounds_waiting_score_unscored")
        return [translate(key, lang)]
    if reason == "refused":
        return [translate("lung_sounds_some_refused", lang)]
    if reason == "stethoscope":
        happened = [translate("lung_sounds_stethoscope_not_validated", lang)]
        to_do = [translate("lung_sounds_stethoscope_record_again", lang)]
    elif reason == "cannot_clear":
        happened = [translate("lung_sounds_cannot_clear", lang,
                              pieces=chest_piece_names(not_heard.get("cannot_clear_pieces") or (), lang))]
        to_do = [record_again_clearing(not_heard.get("clear_through"), lang, sites="several")]
    else:  # device_figures: one sentence per device left out
        left_out = not_heard["devices_left_out"]
        happened = [translate("lung_sounds_device_not_counted", lang, **device_left_out(validation, lang))
                    for validation in left_out]
        counting = [device for validation in left_out for device in validation.get("devices_counting") or []]
        to_do = [record_again_through(list(dict.fromkeys(counting)), lang, sites="several")]
    return happened + to_do if advise else happened


def exam_incomplete_text(sounds: dict, lang: str, *, visit_status: str, reader: str = "nurse") -> Optional[str]:
    """The result's warning that protocol bases were not heard (``sounds``: :func:`lung_sounds`, its
    ``bases_not_heard``), in ``lang``; None when every base was heard. The nurse's on an open visit asks to
    record them again before relying on the result; a closed visit's (its record) and the hospital's letter's
    (``reader``, :data:`LUNG_SOUND_READERS`) only say they were not heard at that visit."""
    if not sounds.get("bases_not_heard"):
        return None
    sites = join_list([translate(f"site_{site}", lang) for site in sounds["bases_not_heard"]], lang)
    return translate("exam_incomplete" if lung_sound_advice_given(visit_status, reader) else "exam_incomplete_closed", lang,
                     sites=sites)


def assessment_heard_rule(assessment: dict, *, threshold: Optional[float], cannot_clear: Collection[str],
                          require_validated_stethoscope: bool = False) -> tuple[dict, bool]:
    """Which takes made their site heard as ``assessment`` read them (the keyword arguments of
    :func:`makes_its_site_heard`), and whether any of it had to come from today's rule instead.

    The threshold is its crackle finding's, else the ``crackle_threshold`` it kept (None there:
    no crackle model was available); the pieces that cannot clear, and whether only validated
    stethoscopes count, are its ``evidence_options``' (one stored before it kept the stethoscope's
    rule reads today's, ``require_validated_stethoscope``, without the page's note: every take stored
    before it names no stethoscope, which counts unless a programme turned the setting on). An
    assessment stored before it kept the threshold or the pieces gets today's (``threshold``, ``cannot_clear``:
    :func:`edge.web.views.heard_rule`), and the second value is True: its page says so. Today's
    rule alone would let a setting changed after the advice rewrite what the record shows."""
    finding = ((assessment.get("contributions") or {}).get("auscultation") or {}).get("finding") or {}
    options = assessment.get("evidence_options") or {}
    if "threshold" in finding:
        threshold, kept_threshold = finding["threshold"], True
    elif "crackle_threshold" in assessment:
        threshold, kept_threshold = assessment["crackle_threshold"], True
    else:
        kept_threshold = False
    kept_pieces = "chest_pieces_cannot_clear" in options
    rule = {"threshold": threshold,
            "cannot_clear": tuple(options["chest_pieces_cannot_clear"] if kept_pieces else cannot_clear),
            "require_validated_stethoscope": bool(options.get("require_validated_stethoscope",
                                                              require_validated_stethoscope))}
    return rule, not (kept_threshold and kept_pieces)


def takes_rescored(assessment: dict) -> list[dict]:
    """The result's takes another crackle model first scored (``crackle_takes_rescored``, kept by
    ``edge.screening.assess_visit``), grouped by that model and the one that judged them: ``sites``
    (codes), ``first``, ``first_threshold``, ``model``, ``threshold`` (thresholds as text). Empty
    when one model scored and judged every take."""
    groups: dict[tuple, dict] = {}
    number = lambda value: "?" if value is None else f"{value:.2f}"
    for take in assessment.get("crackle_takes_rescored") or []:
        key = (take["first_model_version"], take["first_threshold"], take["model_version"], take["threshold"])
        group = groups.setdefault(key, {"sites": [], "first": take["first_model_version"],
                                        "first_threshold": number(take["first_threshold"]),
                                        "model": take["model_version"], "threshold": number(take["threshold"])})
        if take["chest_site"] not in group["sites"]:
            group["sites"].append(take["chest_site"])
    return list(groups.values())


def chest_piece_names(pieces: Collection[str], lang: str, *, alternatives: bool = False) -> str:
    """Chest pieces (``CHEST_PIECES`` codes) by the catalog's names in ``lang``, each once, in ``CHEST_PIECES``
    order: a list (:func:`join_list`), or alternatives (:func:`join_alternatives`: ``Bell or Extended filter``)."""
    names = [translate(f"chest_piece_{piece}", lang) for piece in CHEST_PIECES if piece in pieces]
    return (join_alternatives if alternatives else join_list)(names, lang)


def pieces_to_avoid(cannot_clear: Collection[str]) -> list[str]:
    """The chest pieces of ``cannot_clear`` (``evidence_chest_pieces_cannot_clear``) a nurse can be told to
    avoid, in ``CHEST_PIECES`` order: ``not_stated`` is no piece."""
    return [piece for piece in CHEST_PIECES if piece in cannot_clear and piece != CHEST_PIECE_NOT_STATED]


def auscultation_hint(lang: str, *, chest_piece_default: str, cannot_clear: Collection[str]) -> str:
    """The recording step's hint in ``lang``, its pieces the programme's: how to record, then the piece the form
    starts on (``chest_piece_default``; not said when it is ``not_stated`` or one that cannot clear), then the
    stated pieces that cannot rule crackles out (``cannot_clear``, :func:`pieces_to_avoid`; not said when none)."""
    sentences = [translate("auscultation_hint", lang)]
    if chest_piece_default != CHEST_PIECE_NOT_STATED and chest_piece_default not in cannot_clear:
        sentences.append(translate("auscultation_hint_use", lang, piece=chest_piece_names([chest_piece_default], lang)))
    if pieces_to_avoid(cannot_clear):
        sentences.append(translate("auscultation_hint_avoid", lang,
                                   pieces=chest_piece_names(pieces_to_avoid(cannot_clear), lang, alternatives=True)))
    return join_sentences(sentences, lang)


def chest_piece_note(recording: dict, *, threshold: Optional[float], cannot_clear,
                     require_validated_stethoscope: bool = False) -> Optional[str]:
    """The catalog key of the line under a take that passed the gate and found no crackles, when its
    chest piece makes that clear result weak; None otherwise (or when no threshold is known).

    ``chest_piece_cannot_clear``: a piece in ``cannot_clear`` (the bell by default): the take does not
    make its site heard (:func:`edge.modalities.counts_for_its_site`). ``chest_piece_not_stated_clear``:
    nobody said which piece (a board capture, a take stored before the question was asked); it still
    counts, since the tablet asks for the diaphragm and counting none of these would undo every earlier
    clear exam, but the nurse is told that a take through a piece of ``cannot_clear`` would not rule crackles
    out (no note when ``cannot_clear`` names no stated piece: then every piece can). :func:`chest_piece_text`
    words either with what to record through. None for a take whose stethoscope does not count
    (:func:`edge.modalities.stethoscope_counts`): its stethoscope line says why (:func:`stethoscope_statement`)."""
    threshold = take_threshold(recording, threshold)
    if threshold is None or not is_accepted(recording) or recording["crackle_probability"] >= threshold:
        return None
    if not stethoscope_counts(recording, require_validated_stethoscope=require_validated_stethoscope):
        return None
    if not counts_for_its_site(recording, threshold=threshold, cannot_clear=cannot_clear):
        return "chest_piece_cannot_clear"
    if recording.get("chest_piece", CHEST_PIECE_NOT_STATED) == CHEST_PIECE_NOT_STATED and pieces_to_avoid(cannot_clear):
        return "chest_piece_not_stated_clear"
    return None


def chest_piece_text(recording: dict, lang: str, *, threshold: Optional[float], cannot_clear,
                     visit_status: str, require_validated_stethoscope: bool = False) -> Optional[str]:
    """The line under a take that :func:`chest_piece_note` gives a key, in ``lang``: that sentence, naming the
    take's piece, or for a take whose piece is not stated the pieces of ``cannot_clear`` (:func:`pieces_to_avoid`);
    then, on an open visit (``visit_status``), what to record the site again through (:func:`record_again_clearing`,
    from the take's ``stethoscope_validation``'s ``devices_counting``, less the same ``cannot_clear``: the two
    sentences never name different pieces; the line under a take left out for its device names the same
    source). None when the note has no key."""
    key = chest_piece_note(recording, threshold=threshold, cannot_clear=cannot_clear,
                           require_validated_stethoscope=require_validated_stethoscope)
    if key is None:
        return None
    not_stated = key == "chest_piece_not_stated_clear"
    note = translate(key, lang, piece=chest_piece_names([recording.get("chest_piece")], lang),
                     pieces=chest_piece_names(pieces_to_avoid(cannot_clear), lang, alternatives=True))
    if visit_status != "open":  # the take is a record: nothing is recorded on a closed visit
        return note
    counting = (recording.get("stethoscope_validation") or {}).get("devices_counting")
    return join_sentences([note, record_again_clearing(devices_that_can_clear(counting, cannot_clear), lang,
                                                       sites="if_not_stated" if not_stated else "one")], lang)


# Each status of edge.auscultation.stethoscope_validation and the catalog key that words it.
STETHOSCOPE_STATEMENTS = {"validated": "stethoscope_validated",
                          "chest_piece_not_validated": "stethoscope_chest_piece_not_validated",
                          "not_in_adults": "stethoscope_not_in_adults", "not_validated": "stethoscope_not_validated",
                          "not_stated": "stethoscope_unknown"}


def stethoscope_name(stethoscope: str, lang: str) -> str:
    """A take's stethoscope as the nurse reads it: its make and model, or "Not stated" in her language."""
    return translate("stethoscope_not_stated", lang) if stethoscope == STETHOSCOPE_NOT_STATED else stethoscope


def validated_devices(devices: list[str], lang: str) -> str:
    """The devices of a validation (manifest names, ``"Littmann 3200 bell"``) as the nurse reads them: each
    stethoscope once, with the chest pieces it was validated through in her language."""
    return _by_stethoscope(devices, lang, lambda device, piece: piece)


def _by_stethoscope(devices: list[str], lang: str, words) -> str:
    """Devices (manifest names) grouped by stethoscope in ``lang``: each stethoscope once, with in brackets
    what ``words(device, piece)`` says of each of its devices (``piece``: its chest piece in ``lang``, None
    for a device named without one; None from ``words``: nothing to say)."""
    said: dict[str, list[str]] = {}
    for device in devices:
        stethoscope, piece = device_parts(device)
        text = words(device, translate(f"chest_piece_{piece}", lang) if piece is not None else None)
        said.setdefault(stethoscope, []).extend([text] if text else [])
    if not said:
        return translate("stethoscope_no_devices", lang)
    return join_groups([bracketed(name, join_list(shown, lang), lang) if shown else name
                        for name, shown in said.items()], lang)


def adult_population(key: Optional[str], lang: str) -> str:
    """Whose adults a crackle model's figures are over (``key``: its validation population in the manifest,
    ``adults`` or ``adults_<folder>``: :func:`audio_models.scoring.cohort`), in the nurse's language: KAUH's
    patients and where their crackles came from, or a clinic folder's own labelled takes, named by the folder
    (the manifest's own words are English only)."""
    if key == ADULT_POPULATION:
        return translate("adult_population_adults", lang)
    if key and key.startswith(f"{ADULT_POPULATION}_"):
        return translate("adult_population_folder", lang, folder=key.removeprefix(f"{ADULT_POPULATION}_"))
    return translate("adult_population_other", lang)


def crackle_model_note(adults: Optional[dict], lang: str) -> str:
    """The visit page's note on the crackle model (``adults``: :func:`edge.auscultation.adult_validation`, or
    None): the figures the lung sounds counted with, through which device when they are one device's (saying so
    when that device is the least informative of several the takes went through), and whose adults they are."""
    if not adults:
        return translate("crackle_model_no_adults", lang)
    through_key = "crackle_model_through_weakest_device" if adults.get("weakest_device") else "crackle_model_through_device"
    through = (translate(through_key, lang, device=validated_devices([adults["device"]], lang))
               if adults.get("device") else "")
    figures = {key: value for key, value in adults.items() if key not in ("population_key", "device", "devices_found",
                                                                   "record_through", "weakest_device")}
    return translate("crackle_model_adults", lang, through=through,
                     population=adult_population(adults["population_key"], lang), **figures)


def crackle_model_devices_note(adults: Optional[dict], lang: str, *, advise: bool) -> Optional[str]:
    """What the same adults' figures are through each device alone (``adults``: :func:`edge.auscultation.
    adult_validation`, its ``devices_found``), built from the manifest's numbers: how many of those with
    crackles each chest piece found, then, when it may ``advise`` (the nurse's page of an open visit), which to
    record through when one found fewer than another (KAUH's bell found 0 of 3: record through the diaphragm).
    None without figures of two devices or more."""
    found = (adults or {}).get("devices_found") or []
    if len(found) < 2:
        return None
    counts = {item["device"]: translate("crackle_model_found", lang, found=item["found"], positive=item["positive"])
              for item in found}
    sentences = [translate("crackle_model_by_device", lang, devices=_by_stethoscope(
        list(counts), lang, lambda device, piece: f"{piece} {counts[device]}" if piece else counts[device]))]
    if advise and adults.get("record_through"):
        sentences.append(translate("crackle_model_record_through", lang,
                                   device=validated_devices([adults["record_through"]], lang)))
    return join_sentences(sentences, lang)


def crackle_model_statement(adults: Optional[dict], lang: str) -> str:
    """What the crackle model was validated on, in ``lang``, from its manifest's figures as an assessment kept
    them (``adults``: :func:`edge.auscultation.adult_validation`): :func:`crackle_model_note`, then
    :func:`crackle_model_devices_note`. The referral letter gives it in every language (the manifest's own
    statement is English only); the hospital reads it, so it says what each chest piece found, not what to
    record through."""
    return join_sentences([text for text in (crackle_model_note(adults, lang),
                                             crackle_model_devices_note(adults, lang, advise=False)) if text], lang)


def _caveat_test_seen(caveat: dict, lang: str) -> list[str]:
    return [translate("crackle_caveat_test_seen_before_input_noise", lang, patients=caveat["patients"],
                      positive=caveat["positive_patients"])]


def _caveat_against_normal(caveat: dict, lang: str) -> list[str]:
    two = lambda value: f"{value:.2f}"
    sentences = [translate("crackle_caveat_crackles_against_normal_breathing", lang, auc=two(caveat["auc"]),
                           auc_low=two(caveat["auc_ci95"][0]), auc_high=two(caveat["auc_ci95"][1]),
                           patients=caveat["crackle_free_patients"], devices=validated_devices(caveat["devices"], lang))]
    wheeze = caveat.get("against_wheeze_auc")
    if wheeze is not None and caveat["auc"] < wheeze:
        sentences.append(translate("crackle_caveat_crackles_against_normal_breathing_wheeze", lang, wheeze_auc=two(wheeze)))
    return sentences


def _caveat_input_noise(caveat: dict, lang: str) -> list[str]:
    sentences = [translate("crackle_caveat_input_noise_may_hide_crackles", lang, snr_db=f"{caveat['snr_db']:g}")]
    if caveat.get("icbhi_with_crackles"):
        sentences.append(translate("crackle_caveat_input_noise_may_hide_crackles_icbhi", lang,
                                   with_crackles=caveat["icbhi_with_crackles"], found=caveat["icbhi_found"]))
    return sentences


#: Each caveat code of the crackle model's manifest (``audio_models.export.CAVEAT_CODES``) and what words it
#: from its numbers (catalogue keys ``crackle_caveat_<code>``).
CRACKLE_CAVEATS = {"test_seen_before_input_noise": _caveat_test_seen,
                   "crackles_against_normal_breathing": _caveat_against_normal,
                   "input_noise_may_hide_crackles": _caveat_input_noise}


def crackle_model_caveats(model: Optional[dict], lang: str) -> Optional[list[str]]:
    """The crackle model's caveats in ``lang``, one text each (``model``: its validation status as a result kept
    it, ``validation.models.auscultation``, with the manifest's ``caveats``): [] when it has none. None when they
    cannot all be worded here: a result kept none (made before manifests had them, or a manifest without) or
    one has a code this version does not know (a newer model) or lacks a number its words need; the page then
    shows the manifest's English ``statement`` (which says them all), so no caveat is ever dropped."""
    caveats = (model or {}).get("caveats")
    if caveats is None:
        return None
    worded = []
    for caveat in caveats:
        words = CRACKLE_CAVEATS.get(caveat.get("code"))
        if words is None:
            return None
        try:
            worded.append(join_sentences(words(caveat, lang), lang))
        except (KeyError, IndexError, TypeError, ValueError):
            return None  # a caveat without the numbers its words need: the statement says it
    return worded


def stethoscope_statement(validation: Optional[dict], lang: str, *, visit_status: str = "open",
                          require_validated_stethoscope: bool = False) -> Optional[str]:
    """What a take's crackle result says of its stethoscope and chest piece, in ``lang``
    (``validation``: :func:`edge.auscultation.stethoscope_validation`); None without a served crackle
    model. The visit page and the API's recordings word it here. When the take does not count
    (:func:`stethoscope_counts`, with ``require_validated_stethoscope``) it goes on to say so and why, and, on
    an open visit (``visit_status``; the API and ``ildscreen screen`` word it for one who can still record), to
    record the site again through a device the model was validated on, named from the manifest. A closed
    visit's take is a record (:func:`edge.patients.require_open_visit`): nothing records on it."""
    if not validation:
        return None
    visit_open = visit_status == "open"
    text = _validation_statement(validation, lang)
    verdict = stethoscope_verdict(_as_take(validation), require_validated_stethoscope=require_validated_stethoscope)
    if verdict is None:
        return text
    if verdict == "device_figures":
        # Its own device's figures fail the validation rule: what the nurse must act on comes first (it does
        # not count, record through a device that counts), then the figures, which read "validated".
        to_do = [record_again_through(validation.get("devices_counting"), lang, sites="one")] if visit_open else []
        return join_sentences([translate("stethoscope_device_does_not_count", lang,
                                         **device_left_out(validation, lang)), *to_do, text], lang)
    # Not counted whatever the programme's setting (a device the adults' validation never went through),
    # or only because the programme requires a named, validated one.
    key = "stethoscope_required_not_counted" if verdict == "required" else "stethoscope_does_not_count"
    to_do = ([translate(f"{key}_record_again", lang, devices=validated_devices(validation['devices'], lang))]
             if visit_open else [])
    return join_sentences([text, translate(key, lang), *to_do], lang)


def device_left_out(validation: dict, lang: str) -> dict:
    """The words a take left out for its device's own figures is named by (``validation``: its
    ``stethoscope_validation`` with ``device_counts`` False): the ``device`` and ``why`` its figures fail."""
    return {"device": validated_devices([validation["device"]], lang),
            "why": translate(f"stethoscope_device_why_{validation['device_reason_code']}", lang)}


def record_again_through(devices: Optional[list[str]], lang: str, *, sites: str) -> str:
    """What to record through instead of a device whose own figures fail the rule: ``devices`` (the
    manifest's names, :func:`edge.auscultation.devices_counting`), or, when none of the population's
    devices counts, that recording again will not help. ``sites``: ``one`` (a take's site) or ``several``."""
    if not devices:
        return translate(f"record_again_none_counts_{sites}", lang)
    return translate(f"record_again_through_{sites}", lang, devices=validated_devices(devices, lang))


def record_again_clearing(devices: Optional[list[str]], lang: str, *, sites: str) -> str:
    """What to record through instead of a chest piece that cannot rule crackles out (a clear take through
    it does not make its site heard): ``devices`` (the manifest's names of those that count and can clear:
    :func:`edge.modalities.devices_that_can_clear`), or, when none can, that a clear take will not make the
    site heard; None (nothing says which count: no served crackle model, several adult populations and no
    stethoscope named): a chest piece that can, unnamed. ``sites``: ``one`` (a take's site), ``several`` (the
    visit's), ``if_not_stated`` (a take whose piece is not stated: only if it was one that cannot clear)."""
    if devices is None:
        return translate(f"record_again_other_piece_{sites}", lang)
    if not devices:
        return translate(f"record_again_none_can_clear_{sites}", lang)
    return translate(f"record_again_can_clear_{sites}", lang, devices=validated_devices(devices, lang))


def stethoscope_validation_in_words(validation: Optional[dict], lang: str, *,
                                    require_validated_stethoscope: bool = False) -> Optional[dict]:
    """A take's ``stethoscope_validation`` as the API and ``ildscreen screen`` give it: with ``counts``
    (:func:`stethoscope_counts_by`) and its ``statement`` (:func:`stethoscope_statement`) by the programme's
    ``require_validated_stethoscope``; None without a served crackle model."""
    if not validation:
        return None
    return {**validation,
            "counts": stethoscope_counts_by(validation, require_validated_stethoscope=require_validated_stethoscope),
            "statement": stethoscope_statement(validation, lang, require_validated_stethoscope=require_validated_stethoscope)}


def stethoscope_counts_by(validation: Optional[dict], *, require_validated_stethoscope: bool = False) -> bool:
    """:func:`edge.modalities.stethoscope_counts` for a take's ``stethoscope_validation`` alone (None: no
    served crackle model, read as not stated)."""
    return stethoscope_counts(_as_take(validation), require_validated_stethoscope=require_validated_stethoscope)


def _as_take(validation: Optional[dict]) -> dict:
    """A take as :func:`edge.modalities.stethoscope_verdict` reads it, from its ``stethoscope_validation`` alone
    (None: no served crackle model, read as not stated)."""
    validation = validation or {}
    return {"stethoscope_validation": validation, "chest_piece": validation.get("chest_piece", CHEST_PIECE_NOT_STATED)}


def validation_populations(keys: list[str], lang: str) -> str:
    """Populations of a crackle model's validation (their keys in the manifest: ``adults``,
    ``children_sprsound2022``) as the nurse reads them: each by its catalog words, since the manifest's
    own are English only; a key the catalog does not know reads as "another population"."""
    words = [translate(f"validation_population_{key}", lang) if f"validation_population_{key}" in CATALOG
             else translate("validation_population_other", lang) for key in keys]
    return join_list(dict.fromkeys(words), lang)


def _validation_statement(validation: dict, lang: str) -> str:
    two = lambda value: f"{value:.2f}"
    values = {"stethoscope": stethoscope_name(validation["stethoscope"], lang),
              "chest_piece": translate(f"chest_piece_{validation['chest_piece']}", lang),
              "devices": validated_devices(validation["devices"], lang)}
    key = STETHOSCOPE_STATEMENTS[validation["status"]]
    if validation["status"] == "not_in_adults":
        # A result stored before it kept the populations' keys names them as another population.
        values["populations"] = (validation_populations(validation["population_keys"], lang)
                                 if validation.get("population_keys") else translate("validation_population_other", lang))
    if validation["status"] == "validated":
        values["population"] = adult_population(validation.get("population"), lang)
        if validation.get("figures_over") == "device":
            values["device"] = validated_devices([validation["device"]], lang)
        else:  # a manifest without figures of this device alone: over that population's devices
            key = "stethoscope_validated_pooled"
            values["devices"] = validated_devices(validation.get("population_devices") or validation["devices"], lang)
        values.update(patients=validation["patients"], positive=validation["positive_patients"],
                      sensitivity=two(validation["sensitivity"]), specificity=two(validation["specificity"]),
                      sensitivity_low=two(validation["sensitivity_ci95"][0]),
                      sensitivity_high=two(validation["sensitivity_ci95"][1]),
                      specificity_low=two(validation["specificity_ci95"][0]),
                      specificity_high=two(validation["specificity_ci95"][1]))
    return translate(key, lang, **values)


def natural_frequency(percent: float) -> tuple[str, dict]:
    """The risk as "N in 100 patients like this" (catalog key and values): never "about >99"."""
    if percent < 1:
        return "freq_under_1", {}
    if percent > 99:
        return "freq_over_99", {}
    return "freq_about", {"count": f"{percent:.0f}"}


def action_key(recommendation: dict, monitoring: Optional[dict] = None) -> Optional[str]:
    """The catalog key of "what to do, by when" for the advice (and priority when HRCT is advised);
    None for an advice the tablet has no sentence for (the assessment's own text is shown then).
    Monitoring's sentence names the PFT interval, so it needs the assessment's ``monitoring`` plan."""
    advice = recommendation.get("advice")
    if advice == "monitoring" and not monitoring:
        return None
    key = f"action_{advice}_{recommendation.get('priority')}" if advice == "hrct_pfts" else f"action_{advice}"
    return key if key in CATALOG else None


def pft_every(monitoring: Optional[dict]) -> Optional[str]:
    """The monitoring plan's PFT interval in months as the page and the letter write it (``3–6``, or
    ``6`` when both ends are one); None off the monitoring pathway, and once a clinician ended monitoring
    (``edge.fusion.monitoring.ended_plan``: no interval)."""
    if not monitoring or not monitoring.get("pft_every_months"):
        return None
    low, high = monitoring["pft_every_months"]
    return f"{low}–{high}" if low != high else f"{low}"


def action_values(recommendation: dict, monitoring: Optional[dict] = None) -> dict:
    """What the :func:`action_key` sentence is filled with: the months to the next screen, on the
    monitoring pathway the PFT interval (:func:`pft_every`), and once a clinician ended monitoring the
    date it ended."""
    ended = recommendation.get("monitoring_ended") or {}
    return {"months": recommendation.get("rescreen_months"), "every": pft_every(monitoring), "date": ended.get("date")}


def missing_ranked(missing: list[str], potential: Optional[dict]) -> list[dict]:
    """Missing modalities, the one that could move the risk most first (width of the log-LR range
    it would plausibly give if measured); ``could_change`` False when it could not move it at all
    (e.g. a model not yet counted), None when unknown."""
    ranked = []
    for name in missing:
        span = (potential or {}).get(name)
        width = None if span is None else abs(span[1] - span[0])
        ranked.append({"modality": name, "width": width, "could_change": None if width is None else width > 0})
    # Known movers by size, then unknown (might still matter), then those that cannot move it.
    return sorted(ranked, key=lambda item: (0, -item["width"]) if item["width"] else
                  (1, 0) if item["width"] is None else (2, 0))


# Assessments stored before the FVC / DLCO cut-off became the setting triage_pft_abnormal_below
# carry no cut-off in their flags: they were all made at its then fixed value.
LEGACY_PFT_CUTOFF = 80.0


def _flag_view(flag: dict) -> dict:
    """A red flag with the values its words need (``flag_<code>`` in the catalog)."""
    return {"cutoff": LEGACY_PFT_CUTOFF, **flag}


def risk_factor_lines(guideline: Optional[dict]) -> list[tuple[str, dict]]:
    """The Table 2 factors that selected the guideline line, as (catalog key, values) in the
    stored order: measured factors (``risk_factor_findings``) with the value they came from,
    antibodies and symptoms in their own words, the others (``male``, ``ever_smoker``) by code."""
    if not guideline:
        return []
    measured = {item["code"]: item for item in guideline.get("risk_factor_findings") or []}
    lines = []
    for code in guideline.get("risk_factors") or []:
        if code in measured:
            # A count from an earlier visit is named with its date (edge.labs.recent_lymphocytes).
            date = measured[code].get("date")
            values = {"value": f"{measured[code]['value']:g}", "cutoff": f"{measured[code]['cutoff']:g}"}
            lines.append((f"risk_factor_{code}_dated", {**values, "date": date}) if date
                         else (f"risk_factor_{code}", values))
        elif f"antibody_{code}" in CATALOG:
            lines.append((f"antibody_{code}", {}))
        elif f"symptom_{code}" in CATALOG:
            lines.append((f"symptom_{code}", {}))
        else:
            lines.append((f"risk_factor_{code}", {}))
    return lines


def result_view(assessment: Optional[dict], *, recordings: list[dict], lab_rows_: list[dict],
                threshold: Optional[float], cannot_clear: Collection[str], require_validated_stethoscope: bool = False,
                potential: Optional[dict] = None) -> Optional[dict]:
    """The result as the nurse reads it, as it was decided: takes are read with the assessment's
    own rule (:func:`assessment_heard_rule`; ``threshold`` and ``cannot_clear``, today's rule, only
    for what an older assessment did not keep: ``rule_from_today`` then says so where it matters).

    With nothing measured (no modality gave evidence) there is no fused result: only the
    pre-test risk from the clinical picture and the guideline's advice for it.
    """
    if assessment is None:
        return None
    measured = [m for m in assessment.get("contributions", {}) if m != "clinical_prior"]
    low, high = assessment["interval"]
    percent = assessment["probability"] * 100
    validation = assessment.get("validation") or {}
    models = validation.get("models") or {}
    recommendation = assessment.get("recommendation") or {}
    frequency_key, frequency_values = natural_frequency(percent if measured else assessment["pretest_probability"] * 100)
    red_flags = assessment.get("red_flags", [])
    rule, rule_from_today = assessment_heard_rule(assessment, threshold=threshold, cannot_clear=cannot_clear,
                                                  require_validated_stethoscope=require_validated_stethoscope)
    sounds = lung_sounds(assessment, recordings, **rule)
    return {
        "measured": bool(measured),
        "frequency_key": frequency_key,
        "frequency_values": frequency_values,
        "action_key": action_key(recommendation, assessment.get("monitoring")),
        "action_values": action_values(recommendation, assessment.get("monitoring")),
        "pft_every": pft_every(assessment.get("monitoring")),
        "missing_ranked": missing_ranked(list(assessment.get("missing", [])), potential),
        # Any red flag gets the banner: urgent ones say "this week", the others "do not wait".
        "flag_banner": "urgent" if assessment["tier"] == "urgent" else "flag" if red_flags else None,
        "percent": percent,
        "percent_text": "<1%" if percent < 1 else ">99%" if percent > 99 else f"{percent:.0f}%",
        "interval": (low * 100, high * 100) if high - low >= SHOWN_INTERVAL_MIN_WIDTH else None,
        "pretest_percent": assessment["pretest_probability"] * 100,
        "tier": assessment["tier"],
        "urgent": assessment["tier"] == "urgent",
        "red_flags": [_flag_view(flag) for flag in red_flags],
        "guideline": recommendation.get("guideline"),
        "risk_factors": risk_factor_lines(recommendation.get("guideline")),
        "advice": recommendation.get("advice"),
        "priority": recommendation.get("priority"),
        "rescreen_months": recommendation.get("rescreen_months"),
        "drivers": _drivers(assessment, recordings, lab_rows_),
        "lung_sounds": sounds,
        # Only where it matters: the rule reads takes, and only the lung-sound lines show them.
        "rule_from_today": rule_from_today and sounds is not None,
        "takes_rescored": takes_rescored(assessment),
        # Measured, not yet counted, each with its reason code; lung sounds say it beside their finding.
        "not_counted": [(name, item.get("reason_code")) for name, item in assessment.get("contributions", {}).items()
                        if name in (assessment.get("not_counted") or {}) and not (name == "auscultation" and sounds)],
        "not_measured": _not_measured(assessment, lab_rows_),
        "validation": validation,
        # Models that took part, each with what its manifest says about its evidence.
        "models": [{"modality": name, **model} for name, model in sorted(models.items())],
        "synthetic_models": assessment.get("synthetic_models", []),
    }


def ct_metrics(metrics: dict) -> list[dict]:
    """The CT report's numeric metrics with a label key and unit; unknown keys keep their key."""
    shown = []
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        label, unit = CT_METRICS.get(key, (None, ""))
        shown.append({"key": key, "label": label, "value": value, "unit": unit})
    return shown


def trend_points(visits: list[dict], *, width: float = 300, height: float = 120, left: float = 36,
                 bottom: float = 20) -> list[dict]:
    """Assessed visits, oldest first, placed on the timeline chart (x by order, y by percent)."""
    assessed = [v for v in reversed(visits) if v.get("assessment")]
    plot_w, plot_h = width - left - 10, height - bottom - 10
    points = []
    for index, visit in enumerate(assessed):
        percent = visit["assessment"]["probability"] * 100
        x = left + (plot_w * index / (len(assessed) - 1) if len(assessed) > 1 else plot_w / 2)
        points.append({"visit": visit, "x": round(x, 1), "y": round(10 + plot_h * (1 - percent / 100), 1),
                       "percent": percent, "number": index + 1})
    return points
