"""The clinic's controlled vocabularies: CTD diagnoses, autoantibodies, symptoms, chest sites and
chest pieces; how a stethoscope's make and model may be written; how a calendar date is written.

Kept in one place so the API, the CLI, the UI and the models agree on spelling.
"""
from __future__ import annotations

import datetime as dt
import re
from difflib import SequenceMatcher
from typing import Annotated, Iterable, Literal, Optional

from pydantic import AfterValidator, BeforeValidator

# CTD types screened here: the five of the 2023 ACR/CHEST ILD screening guideline for systemic
# autoimmune rheumatic diseases (SSc, RA, idiopathic inflammatory myopathy, Sjögren's, MCTD), and
# SLE, which that guideline does not cover (edge.fusion.triage gives it no guideline line).
DEFINED_CTD_DIAGNOSES = {
    "SSc": "Systemic sclerosis",
    "RA": "Rheumatoid arthritis",
    "IIM": "Idiopathic inflammatory myopathy (PM/DM, antisynthetase syndrome)",
    "SjD": "Sjögren's disease",
    "SLE": "Systemic lupus erythematosus",
    "MCTD": "Mixed connective-tissue disease",
}
# A patient referred with a suspected CTD whose rheumatology work-up has not yet named it
# (undifferentiated or under work-up): registered as such, never as one of the diseases above.
UNDETERMINED_CTD = "undetermined"
CTD_DIAGNOSES = {**DEFINED_CTD_DIAGNOSES,
                 UNDETERMINED_CTD: "Diagnosis not yet established (CTD suspected, rheumatology work-up not complete)"}

AUTOANTIBODIES = {
    "anti-Scl-70": "Anti-topoisomerase I (SSc, high ILD risk)",
    "anti-centromere": "Anti-centromere (SSc, lower ILD risk)",
    "anti-RNA-polymerase-III": "Anti-RNA polymerase III (SSc)",
    "RF-high-titre": "Rheumatoid factor, high titre (RA)",
    "anti-CCP": "Anti-cyclic citrullinated peptide (RA), positive",
    "anti-CCP-high-titre": "Anti-cyclic citrullinated peptide, high titre (> 3 x upper limit of normal) (RA)",
    "anti-Jo-1": "Anti-histidyl-tRNA synthetase (antisynthetase syndrome)",
    "anti-PL-7": "Anti-threonyl-tRNA synthetase",
    "anti-PL-12": "Anti-alanyl-tRNA synthetase",
    "anti-EJ": "Anti-glycyl-tRNA synthetase",
    "anti-OJ": "Anti-isoleucyl-tRNA synthetase",
    "anti-MDA5": "Anti-melanoma differentiation-associated gene 5 (rapidly progressive ILD)",
    "anti-Ro52": "Anti-Ro52/TRIM21",
    "anti-SSA": "Anti-SSA/Ro60",
    "anti-SSB": "Anti-SSB/La",
    "anti-U1-RNP": "Anti-U1 ribonucleoprotein (MCTD)",
    "anti-dsDNA": "Anti-double-stranded DNA (SLE)",
    "anti-Sm": "Anti-Smith (SLE)",
    "ANA": "Antinuclear antibodies",
}

SYMPTOMS = {
    "exertional_dyspnoea": "Breathless on exertion",
    "rapidly_worsening_dyspnoea": "Breathlessness worsening over days to weeks",
    "dry_cough": "Dry cough for more than 8 weeks",
    "fatigue": "Fatigue",
    "chest_pain": "Chest pain",
    "weight_loss": "Unintended weight loss",
    "finger_clubbing": "Finger clubbing",
    "mechanics_hands": "Mechanic's hands",
    "raynaud": "Raynaud's phenomenon",
    "skin_ulcers": "Digital ulcers",
}

SMOKING_STATUS = ("never", "former", "current")
#: The smoking states that have pack-years to count. A never-smoker has smoked fewer than 100 cigarettes in her
#: life (the CDC National Health Interview Survey's definition of a never smoker): 5 packs at most, under 0.02 pack-years, so her pack-years are empty (not known) or 0, never a number of years.
SMOKING_WITH_PACK_YEARS = ("former", "current")

# Recommended order: posterior bases first, where fibrotic ILD begins and Velcro crackles
# are heard earliest. Codes of the ICBHI database map onto these (see ICBHI_CHEST_SITES).
CHEST_SITES = {
    "posterior_left_base": "Posterior left base",
    "posterior_right_base": "Posterior right base",
    "lateral_left_base": "Lateral left base",
    "lateral_right_base": "Lateral right base",
    "posterior_left_mid": "Posterior left mid-zone",
    "posterior_right_mid": "Posterior right mid-zone",
    "posterior_left_upper": "Posterior left upper zone",
    "posterior_right_upper": "Posterior right upper zone",
    "anterior_left": "Anterior left",
    "anterior_right": "Anterior right",
    "trachea": "Trachea",
}
BASAL_CHEST_SITES = frozenset(site for site in CHEST_SITES if site.endswith("_base"))

# The stethoscope's chest piece (or an electronic stethoscope's filter mode) a recording was taken
# through. It matters: through the Littmann 3200's bell filter the crackle detector found 1 of 9 KAUH
# adults with crackles, through its diaphragm filter 6 of 8 and its extended filter 4 of 9, over all 37
# KAUH adults (22 of them chose the threshold); on the 15 test adults alone 0 of 3, 3 of 3 and 2 of 3
# (docs/evidence.md, model 0.6.0). ``not_stated``: nobody said (a board capture, whose wire
# protocol carries no mode; a recording stored before the mode was asked for; a client that left it out).
CHEST_PIECE_NOT_STATED = "not_stated"
CHEST_PIECES = {
    "diaphragm": "Diaphragm (or the diaphragm filter)",
    "bell": "Bell (or the bell filter)",
    "extended": "Extended filter",
    CHEST_PIECE_NOT_STATED: "Not stated",
}

# A stethoscope's make and model as the clinic names it (settings ``stethoscopes``), e.g. "Littmann 3200":
# the crackle model's evidence is earned per stethoscope (its manifest's validation.populations.*.devices),
# so each take keeps the one it went through (edge.recordings). ``not_stated``: nobody said (a take stored
# before it was asked for; a board or an upload the clinic's settings name no stethoscope for).
STETHOSCOPE_NOT_STATED = "not_stated"
STETHOSCOPE_NAME_MAX = 64
# Letters of any script, digits, spaces and . + / ( ) ' -; starting with a letter or digit.
STETHOSCOPE_NAME = re.compile(r"[^\W_][\w .+/()'-]*")

# A calendar date as the API and forms take it: YYYY-MM-DD and nothing else. Python 3.11's
# date.fromisoformat also reads other ISO 8601 forms (a week date 2026-W22-1, a basic 20260525) that
# 3.10, the Jetson's Python, refuses: the check is the same on both.
CALENDAR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def calendar_date(text: object) -> dt.date:
    """The date ``text`` writes as YYYY-MM-DD.

    Raises
    ------
    ValueError
        Naming the text, when it is not a real date written so.

    Examples
    --------
    >>> calendar_date("2026-02-28")
    datetime.date(2026, 2, 28)
    >>> calendar_date("2026-W09-6")
    Traceback (most recent call last):
    ...
    ValueError: must be a date as YYYY-MM-DD, got '2026-W09-6'
    """
    if isinstance(text, str) and CALENDAR_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"must be a date as YYYY-MM-DD, got {text!r}")


# When a sample was drawn, in FHIR R4's dateTime forms (https://hl7.org/fhir/R4/datatypes.html#dateTime), an
# ISO 8601 profile: a year, a year and month, a date, or a date and time to the second (a fraction allowed)
# with its zone offset (Z or +hh:mm/-hh:mm), which FHIR requires once a time is given.
SAMPLE_TIME = re.compile(r"(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
                         r"(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?")


def sample_day(text: object) -> dt.date:
    """The first calendar day of the time ``text`` writes in a FHIR dateTime form (:data:`SAMPLE_TIME`),
    as written (a date-time's day in its own zone).

    Raises
    ------
    ValueError
        Naming the text, when it is not a real date or date-time written so.

    Examples
    --------
    >>> sample_day("2026-11-01T09:00:00+08:00"), sample_day("2026-11")
    (datetime.date(2026, 11, 1), datetime.date(2026, 11, 1))
    >>> sample_day("yesterday")
    Traceback (most recent call last):
    ...
    ValueError: must be an ISO 8601 date or date-time as FHIR writes it (YYYY, YYYY-MM, YYYY-MM-DD or \
YYYY-MM-DDThh:mm:ss with Z or +hh:mm), got 'yesterday'
    """
    found = SAMPLE_TIME.fullmatch(text) if isinstance(text, str) else None
    if found:
        try:
            return dt.date(int(found["year"]), int(found["month"] or 1), int(found["day"] or 1))
        except ValueError:
            pass
    raise ValueError("must be an ISO 8601 date or date-time as FHIR writes it (YYYY, YYYY-MM, YYYY-MM-DD or "
                     f"YYYY-MM-DDThh:mm:ss with Z or +hh:mm), got {text!r}")


ICBHI_CHEST_SITES = {
    "Tc": "trachea",
    "Al": "anterior_left",
    "Ar": "anterior_right",
    "Pl": "posterior_left_base",
    "Pr": "posterior_right_base",
    "Ll": "lateral_left_base",
    "Lr": "lateral_right_base",
}

# A clinician's answer, on listening to a stored take, to "are crackles heard?": the reference
# standard the crackle model is checked against per stethoscope ('ildscreen audio export-labelled',
# then 'ildscreen audio evaluate'). It never changes a visit's result, risk or advice.
CRACKLES_HEARD = {
    "yes": "Crackles heard",
    "no": "No crackles heard",
    "unsure": "Unsure",
}

# Why a clinician ended ILD monitoring at this clinic (edge.monitoring_ends): the patient's ILD is no longer
# followed here. Only "mdt_no_ild" sends the patient back to screening (edge.fusion.monitoring.ENDED);
# "other" needs a short note saying why (MONITORING_END_NOTE_MAX characters at most).
MONITORING_END_REASONS = {
    "transferred": "Care transferred to a hospital ILD clinic",
    "mdt_no_ild": "A multidisciplinary team (MDT) ruled ILD out",
    "died": "The patient died",
    "declined": "The patient declined monitoring",
    "other": "Other (say why in the note)",
}
MONITORING_END_NOTE_MAX = 200

ROLES = ("nurse", "clinician", "admin")
VISIT_STATUSES = ("open", "completed", "cancelled")


# How alike a typed word and an accepted one (or one part of it) must be to be suggested: close
# enough for "dyspnea" -> "exertional_dyspnoea" and "Scl-70" -> "anti-Scl-70", not for unrelated words.
SUGGESTION_SIMILARITY = 0.75


def _folded(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def closest_words(word: str, accepted: Iterable[str]) -> list[str]:
    """The accepted words a misspelt ``word`` most likely meant (empty when none is close).

    A word is compared whole, by its parts (split at ``_`` and ``-``) and by its tails (``Jo-1`` of
    ``anti-Jo-1``), case and punctuation ignored, so a US spelling or a missing prefix still finds
    the accepted word.

    Examples
    --------
    >>> closest_words("Scl-70", AUTOANTIBODIES)
    ['anti-Scl-70']
    >>> closest_words("dyspnea", SYMPTOMS)
    ['exertional_dyspnoea', 'rapidly_worsening_dyspnoea']
    >>> closest_words("banana", SYMPTOMS)
    []
    """
    typed = _folded(word)
    scores = {}
    for candidate in accepted:
        parts = re.split(r"[_-]", candidate)
        pieces = parts + ["".join(parts[start:]) for start in range(1, len(parts))]  # words and tails
        forms = [_folded(candidate)] + [_folded(piece) for piece in pieces if len(_folded(piece)) > 2]
        scores[candidate] = max(SequenceMatcher(None, typed, form).ratio() for form in forms)
    best = max(scores.values(), default=0.0)
    if best < SUGGESTION_SIMILARITY:
        return []
    return [candidate for candidate, score in scores.items() if score == best]


def unknown_word_message(what: str, word: str, accepted: Iterable[str]) -> str:
    """``unknown symptom 'dyspnea' (did you mean 'exertional_dyspnoea'?); expected one of [...]``."""
    accepted = list(accepted)
    suggestions = closest_words(word, accepted)
    hint = f" (did you mean {' or '.join(repr(s) for s in suggestions)}?)" if suggestions else ""
    return f"unknown {what} {word!r}{hint}; expected one of {sorted(accepted)}"


def known_word(accepted, what: str) -> BeforeValidator:
    """A pydantic check that refuses a word outside ``accepted`` with :func:`unknown_word_message`
    (naming the word, the closest accepted ones and all of them), before the type's own check.

    Paired with ``Literal[tuple(accepted)]``, the same type validates a value and enumerates the
    accepted ones (in the OpenAPI document, say), so the two cannot drift apart."""
    def check(value):
        if isinstance(value, str) and value not in accepted:
            raise ValueError(unknown_word_message(what, value, accepted))
        return value

    return BeforeValidator(check)


#: A chest piece by name: the API's upload form, the evidence options and their settings
#: (``edge.config``) all take this type, so each refuses an unknown piece by the same message.
ChestPiece = Annotated[Literal[tuple(CHEST_PIECES)], known_word(CHEST_PIECES, "chest piece")]  # type: ignore[valid-type]
def stethoscope_name_problem(name: object) -> Optional[str]:
    """Why ``name`` cannot name a stethoscope (too long, a character outside ``STETHOSCOPE_NAME``), or None.

    Examples
    --------
    >>> stethoscope_name_problem("Littmann 3200") is None
    True
    >>> stethoscope_name_problem("<script>")
    "stethoscope '<script>' must be letters, digits, spaces and . + / ( ) ' - (starting with a letter or digit)"
    """
    if not isinstance(name, str) or not name.strip():
        return f"stethoscope must be a non-empty name, got {name!r}"
    if len(name) > STETHOSCOPE_NAME_MAX:
        return f"stethoscope name is {len(name)} characters long; at most {STETHOSCOPE_NAME_MAX}"
    if not STETHOSCOPE_NAME.fullmatch(name):
        return (f"stethoscope {name!r} must be letters, digits, spaces and . + / ( ) ' - (starting with a letter "
                "or digit)")
    return None


def stethoscope_key(name: str) -> str:
    """How two names of one stethoscope compare: their words (letters and digits), casefolded, so that
    "Littmann 3200", "LITTMANN-3200" and "littmann  3200" are one stethoscope.

    Examples
    --------
    >>> stethoscope_key("Littmann-3200  bell")
    'littmann 3200 bell'
    """
    return " ".join(re.findall(r"[^\W_]+", name.casefold()))


def _check_stethoscope_name(name: str) -> str:
    problem = stethoscope_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


#: A stethoscope's make and model as written in the settings and sent with an upload: checked for its
#: length and characters (whether the clinic has that stethoscope is the caller's check).
StethoscopeName = Annotated[str, AfterValidator(_check_stethoscope_name)]
#: A clinician's crackle label of a take (the API's body; the tablet's form checks the same words).
CracklesHeard = Annotated[Literal[tuple(CRACKLES_HEARD)], known_word(CRACKLES_HEARD, "answer")]  # type: ignore[valid-type]
