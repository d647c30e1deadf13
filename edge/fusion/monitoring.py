"""Monitoring of confirmed ILD: once ILD is confirmed the patient leaves screening for the
monitoring pathway of the 2023 ACR/CHEST guideline (Johnson SR et al. Arthritis Rheumatol
2024;76:1182-1200, Table 4, "Summary of recommendations for monitoring for ILD progression"):

- PFTs (spirometry, lung volumes, DLCO) every 3-6 months in the first year for IIM-ILD and
  SSc-ILD, every 3-12 months for RA-, SjD- and MCTD-ILD, "then less frequently once stable";
- ambulatory desaturation testing every 3-12 months;
- HRCT when clinically indicated (no routine interval given);
- against chest radiography, 6-minute walk distance and bronchoscopy for monitoring.

Programme assumptions (marked in ``PFT_MONTHS``): SLE is outside the guideline's population and
follows the 3-12 month line; a diagnosis not yet established follows the more frequent 3-6 month
line; a programme can change both first-year lines (setting ``monitoring_pft_months_first_year``;
the guideline's own CTDs follow its Table 4 and are not settings). After the first year, "less
frequently" is the upper end of the first-year interval, which a programme can change per CTD
(setting ``monitoring_pft_months_after_first_year``). GAP / ILD-GAP staging
(``edge.fusion.staging``) is computed when FVC and DLCO are known.

A later HRCT read as no ILD after the read that confirmed it (``discordant_hrct``) does not end
monitoring: the guideline gives no rule for it (it advises HRCT when clinically indicated), and one
read cannot tell an ILD that improved under treatment from a reading or technique difference.
Programme assumption, not a setting (a safety floor): monitoring goes on, and the advice asks a
clinician to review both reads with the rheumatologist and the radiologist.

A clinician can record that monitoring ended at this clinic (``edge.monitoring_ends``: care transferred to
a hospital ILD clinic, an MDT ruled ILD out, the patient died or declined, or another reason). The guideline
gives no end to monitoring: the end is a clinician's decision, not a guideline rule, and the advice says so
(``ENDED``). While it is in force a new assessment of a visit dated on or after it shows the plan as ended
(:func:`ended_plan`: no PFT interval, no due dates) and says that a new concern needs a clinician's review
(:func:`ended_recommendation`);
it stays on the monitoring pathway, because the ILD is still known. Only an MDT that ruled ILD out sends the
patient back to screening, and the screening advice then says so (:func:`mdt_sentence`): the MDT's diagnosis
replaces the HRCT read that confirmed ILD. A read with ILD dated after the MDT's ruling overrides it again
(:func:`end_in_effect`): monitoring, and a clinician reviews. A visit dated before the end follows the plan
that held at its date (``edge.monitoring_ends.end_in_force``): the end does not reach back. Programme
assumptions, not settings (safety floors).
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping, Optional, Sequence

from edge.vocabulary import UNDETERMINED_CTD

GUIDELINE = ("Johnson SR et al. 2023 ACR/CHEST Guideline for the Screening and Monitoring of ILD in People with "
             "SARDs, Arthritis Rheumatol 2024;76:1182-1200, Table 4")
PROGRAMME = "programme assumption"
FIRST_YEAR_SETTING = "monitoring_pft_months_first_year"
# CTD -> (first-year PFT interval in months (low, high), interval after the first year, source).
PFT_MONTHS: dict[str, tuple[tuple[int, int], int, str]] = {
    "SSc": ((3, 6), 6, GUIDELINE + "; after the first year: " + PROGRAMME),
    "IIM": ((3, 6), 6, GUIDELINE + "; after the first year: " + PROGRAMME),
    "RA": ((3, 12), 12, GUIDELINE + "; after the first year: " + PROGRAMME),
    "SjD": ((3, 12), 12, GUIDELINE + "; after the first year: " + PROGRAMME),
    "MCTD": ((3, 12), 12, GUIDELINE + "; after the first year: " + PROGRAMME),
    "SLE": ((3, 12), 12, PROGRAMME + " (SLE is outside the guideline's population)"),
    # Not yet diagnosed: the more frequent line, until the work-up names the disease.
    UNDETERMINED_CTD: ((3, 6), 6, PROGRAMME + " (diagnosis not yet established: the more frequent SSc/IIM line)"),
}
# The CTDs whose first-year line is the programme's, not the guideline's: only these are settings.
PROGRAMME_FIRST_YEAR = tuple(ctd for ctd, (_months, _later, source) in PFT_MONTHS.items()
                             if source.startswith(PROGRAMME))
FIRST_YEAR_MAX_MONTHS = 12
AFTER_FIRST_YEAR_MAX_MONTHS = 24
DESATURATION_MONTHS = (3, 12)
AVOID = ("chest radiography", "6-minute walk distance", "bronchoscopy")


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, held to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    next_month = dt.date(year + (month == 12), month % 12 + 1, 1)
    return min(day.replace(year=year, month=month, day=1) + dt.timedelta(days=day.day - 1),
               next_month - dt.timedelta(days=1))


def checked_after_first_year(overrides: Mapping[str, int]) -> dict[str, int]:
    """Per-CTD overrides of the PFT interval after the first year (months), checked: each key a CTD of
    ``PFT_MONTHS``, each value whole months from 1 to ``AFTER_FIRST_YEAR_MAX_MONTHS``."""
    for ctd, months in overrides.items():
        if ctd not in PFT_MONTHS:
            raise ValueError(f"unknown CTD {ctd!r} in the PFT interval after the first year; expected one of "
                             f"{sorted(PFT_MONTHS)}")
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= AFTER_FIRST_YEAR_MAX_MONTHS:
            raise ValueError(f"the PFT interval after the first year for {ctd} must be whole months from 1 to "
                             f"{AFTER_FIRST_YEAR_MAX_MONTHS}, got {months!r}")
    return dict(overrides)


def checked_first_year(overrides: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Per-CTD overrides of the first-year PFT interval (months, ``[low, high]``), checked: each key a CTD
    of ``PROGRAMME_FIRST_YEAR`` (the guideline's own CTDs follow its Table 4), each value two whole
    months with 1 <= low <= high <= ``FIRST_YEAR_MAX_MONTHS``."""
    for ctd, months in overrides.items():
        if ctd not in PROGRAMME_FIRST_YEAR:
            reason = "follows the guideline's Table 4" if ctd in PFT_MONTHS else "is not a CTD of the programme"
            raise ValueError(f"the first-year PFT interval of {ctd!r} is not a setting: it {reason}; expected one "
                             f"of {list(PROGRAMME_FIRST_YEAR)}")
        whole = (isinstance(months, (list, tuple)) and len(months) == 2
                 and all(isinstance(m, int) and not isinstance(m, bool) for m in months))
        if not whole or not 1 <= months[0] <= months[1] <= FIRST_YEAR_MAX_MONTHS:
            raise ValueError(f"the first-year PFT interval for {ctd} must be [low, high] whole months with "
                             f"1 <= low <= high <= {FIRST_YEAR_MAX_MONTHS}, got {months!r}")
    return {ctd: list(months) for ctd, months in overrides.items()}


def _date(value: Optional[str]) -> Optional[dt.date]:
    return dt.date.fromisoformat(value[:10]) if value else None


def monitoring_plan(ctd_diagnosis: str, *, confirmed_on: Optional[str], pft_dates: list[str],
                    on: Optional[str] = None, after_first_year: Optional[Mapping[str, int]] = None,
                    first_year: Optional[Mapping[str, Sequence[int]]] = None) -> dict:
    """The monitoring plan of a patient with confirmed ILD, as of ``on`` (ISO date; default today).

    The next PFTs are due within the interval after the later of the confirmation and the last
    PFTs on record: ``next_pft_from`` (its low end) to ``next_pft_due`` (its high end); both None
    when no date is known (e.g. ``ildscreen screen --ild-confirmed``). ``after_first_year``: the
    programme's per-CTD interval after the first year (months), replacing ``PFT_MONTHS``' default.
    ``first_year``: the programme's first-year interval (``[low, high]`` months) of a CTD outside the
    guideline (:func:`checked_first_year`); the interval after the first year then defaults to its high end.
    """
    (low, high), later, source = PFT_MONTHS[ctd_diagnosis]
    if ctd_diagnosis in (first_year or {}):
        (low, high), later = first_year[ctd_diagnosis], first_year[ctd_diagnosis][1]
        source += f"; first year every {low}-{high} months (setting {FIRST_YEAR_SETTING})"
    later = (after_first_year or {}).get(ctd_diagnosis, later)
    today = _date(on) or dt.date.today()
    confirmed = _date(confirmed_on)
    pfts = sorted(d for d in (_date(v) for v in pft_dates) if d is not None and d <= today)
    anchor = max([d for d in (confirmed, pfts[-1] if pfts else None) if d is not None], default=None)
    first_year = confirmed is None or today < add_months(confirmed, 12)
    months = (low, high) if first_year else (later, later)
    due_from = add_months(anchor, months[0]) if anchor else None
    due_by = add_months(anchor, months[1]) if anchor else None
    every = f"every {months[0]}-{months[1]} months" if months[0] != months[1] else f"every {months[0]} months"
    due_text = f" (next due by {due_by.isoformat()})" if due_by else ""
    return {
        "pathway": "monitoring",
        "pft_every_months": list(months),
        "first_year": first_year,
        "last_pft": pfts[-1].isoformat() if pfts else None,
        "next_pft_from": due_from.isoformat() if due_from else None,
        "next_pft_due": due_by.isoformat() if due_by else None,
        "pft_overdue": bool(due_by and today > due_by),
        "desaturation_every_months": list(DESATURATION_MONTHS),
        "hrct": "when clinically indicated",
        "not_recommended": list(AVOID),
        "next_steps": [f"PFTs (spirometry, lung volumes, DLCO) {every}{due_text}",
                       f"Ambulatory desaturation test every {DESATURATION_MONTHS[0]}-{DESATURATION_MONTHS[1]} months",
                       "HRCT of the chest when clinically indicated"],
        "source": source,
    }


def discordant_hrct(confirmed: Optional[dict], last_hrct: Optional[dict]) -> Optional[dict]:
    """An HRCT read as no ILD after a read with ILD, or None (module docstring).

    ``confirmed``: the most recent read with ILD, or the confirmation (``{"date", ...}``,
    ``edge.outcomes.confirmed_ild``); ``last_hrct``: the most recent confirming HRCT read (``{"date",
    "ild"}``). Returns ``{"ild_on", "no_ild_on"}`` when the most recent read is "absent" and later.

    Examples
    --------
    >>> discordant_hrct({"date": "2025-05-01"}, {"date": "2026-03-01", "ild": "absent"})
    {'ild_on': '2025-05-01', 'no_ild_on': '2026-03-01'}
    >>> discordant_hrct({"date": "2025-05-01"}, {"date": "2026-03-01", "ild": "present"}) is None
    True
    """
    if not confirmed or not confirmed.get("date") or not last_hrct or last_hrct["ild"] != "absent":
        return None
    if last_hrct["date"][:10] <= confirmed["date"][:10]:
        return None
    return {"ild_on": confirmed["date"][:10], "no_ild_on": last_hrct["date"][:10]}


DISCORDANT_STEP = "Discuss the disagreeing HRCT reads with the rheumatologist and the radiologist"


def monitoring_recommendation(plan: dict, *, priority: str, discordant: Optional[dict] = None,
                              kept: Sequence[str] = ()) -> dict:
    """The assessment's recommendation on the monitoring pathway (replaces screening advice).

    ``discordant``: a later HRCT read without ILD (:func:`discordant_hrct`): named in the text, and a
    clinician's review of both reads comes first among the next steps; monitoring goes on.
    ``kept``: sentences of the screening advice that still hold once ILD is confirmed (the HRCT that
    answered anti-MDA5, ``edge.fusion.triage.anti_mda5_hrct_sentence``), said after the first."""
    review = ([f"The HRCT on {discordant['no_ild_on']} read no ILD after the HRCT on {discordant['ild_on']} read "
               "ILD: a clinician should review both reads; monitoring goes on meanwhile."] if discordant else [])
    steps = ([DISCORDANT_STEP] if discordant else []) + plan["next_steps"]
    return {
        "advice": "monitoring",
        "priority": priority,
        "text": " ".join(["ILD is confirmed: monitor it.", *kept, *review, "; ".join(steps) + "."]),
        "next_steps": steps,
        "discordant_hrct": discordant,
        "rescreen_months": None,
        # Screening's notes (a negative HRCT, symptoms to review now) do not apply once ILD is confirmed.
        "negative_hrct": None,
        "review_symptoms": [],
        "guideline": {"code": "monitoring", "line": "Confirmed ILD in a systemic autoimmune rheumatic disease: "
                      "monitor for progression.", "source": plan["source"], "risk_factors": []},
    }


ENDED_BY_CLINICIAN = "a clinician's decision, not a guideline rule (the guideline gives no end to monitoring)"
# Why monitoring ended (one row per reason of edge.vocabulary.MONITORING_END_REASONS) -> (the pathway of a new assessment, what the
# advice calls it, source). Only an MDT that ruled ILD out leaves the monitoring pathway: the other reasons
# leave the ILD known, so screening advice (HRCT + PFTs to find ILD) would contradict the diagnosis.
ENDED: dict[str, tuple[str, str, str]] = {
    "transferred": ("monitoring", "care transferred to a hospital ILD clinic", PROGRAMME + "; " + ENDED_BY_CLINICIAN),
    "mdt_no_ild": ("screening", "an MDT ruled ILD out", PROGRAMME + "; " + ENDED_BY_CLINICIAN
                   + "; the MDT's diagnosis replaces the HRCT read, so screening resumes"),
    "died": ("monitoring", "the patient died", PROGRAMME + "; " + ENDED_BY_CLINICIAN),
    "declined": ("monitoring", "the patient declined monitoring", PROGRAMME + "; " + ENDED_BY_CLINICIAN),
    "other": ("monitoring", "another reason (see the clinic's record)", PROGRAMME + "; " + ENDED_BY_CLINICIAN),
}
ENDED_STEP = "A clinician reviews any new concern before further tests are arranged"


def end_in_effect(ended: Optional[dict], last_ild_read: Optional[dict]) -> Optional[dict]:
    """The recorded end of monitoring (``{"date", "reason", ...}``, ``edge.monitoring_ends``) that a new
    assessment follows, or None. An MDT's ruling that ILD is absent gives way to an HRCT read with ILD
    dated after it (``last_ild_read``, ``{"date", ...}``): that read is new, and monitoring applies again.

    Examples
    --------
    >>> end_in_effect({"date": "2026-03-01", "reason": "mdt_no_ild"}, {"date": "2026-05-01"}) is None
    True
    >>> end_in_effect({"date": "2026-03-01", "reason": "transferred"}, {"date": "2026-05-01"})["reason"]
    'transferred'
    """
    if not ended:
        return None
    if ENDED[ended["reason"]][0] == "screening" and last_ild_read and last_ild_read["date"][:10] > ended["date"]:
        return None
    return ended


def resumes_screening(ended: Optional[dict]) -> bool:
    """Whether the end in effect (:func:`end_in_effect`) puts the patient back on the screening pathway."""
    return bool(ended) and ENDED[ended["reason"]][0] == "screening"


def _ended_words(ended: dict) -> str:
    return f"on {ended['date']} ({ENDED[ended['reason']][1]})"


def mdt_sentence(ended: dict) -> str:
    """What the screening advice says first once an MDT ruled ILD out (:data:`ENDED`)."""
    return (f"Monitoring of ILD was ended {_ended_words(ended)}, {ENDED_BY_CLINICIAN}: screening advice applies "
            "again.")


def ended_plan(ended: dict) -> dict:
    """The monitoring plan shown as ended (``ended``: ``{"date", "reason", "note"}``): no PFT interval and no
    due dates, since no monitoring is arranged here any more; the keys of :func:`monitoring_plan`."""
    return {
        "pathway": "monitoring",
        "ended": {key: ended.get(key) for key in ("date", "reason", "note")},
        "pft_every_months": None,
        "first_year": None,
        "last_pft": None,
        "next_pft_from": None,
        "next_pft_due": None,
        "pft_overdue": False,
        "desaturation_every_months": None,
        "hrct": None,
        "not_recommended": list(AVOID),
        "next_steps": [ENDED_STEP],
        "source": ENDED[ended["reason"]][2],
    }


def ended_recommendation(plan: dict, *, priority: str, kept: Sequence[str] = ()) -> dict:
    """The assessment's recommendation once a clinician ended monitoring (``plan``: :func:`ended_plan`): it
    names when and why, says that this is a clinician's decision, and that a new concern needs a clinician's
    review. The note of the end stays in the clinic's record: the text leaves the clinic in a referral."""
    ended = plan["ended"]
    return {
        "advice": "monitoring_ended",
        "priority": priority,
        "text": " ".join([f"ILD is confirmed; monitoring at this clinic was ended {_ended_words(ended)}, "
                          f"{ENDED_BY_CLINICIAN}.", *kept, "A new concern needs a clinician's review."]),
        "next_steps": list(plan["next_steps"]),
        "monitoring_ended": ended,
        "discordant_hrct": None,
        "rescreen_months": None,
        "negative_hrct": None,
        "review_symptoms": [],
        "guideline": {"code": "monitoring_ended", "line": "Confirmed ILD; monitoring at this clinic ended by a "
                      "clinician's decision.", "source": plan["source"], "risk_factors": []},
    }
