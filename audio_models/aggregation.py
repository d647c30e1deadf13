"""From recordings to chest sites to a visit. Serving module: numpy only.

Bilateral basal fine crackles are the bedside sign of fibrotic ILD (Cottin & Cordier,
Eur Respir J 2012;40:519 "Velcro crackles: the key for early diagnosis of idiopathic
pulmonary fibrosis?"; Sgalla et al., Respir Res 2018), so basal sites weigh twice as
much as the others, and the visit reports separately how likely crackles are at *both*
bases.

A chest site is *basal* when its name holds ``basal``, ``base`` or ``lower``, or is an
ICBHI lateral site (``Ll``/``Lr``, recorded over the lower lateral chest). Its side is
read from ``left``/``right`` in the name or the ICBHI suffix ``l``/``r``.
"""

import re

from audio_models.errors import AudioError

BASAL_WEIGHT = 2.0
OTHER_WEIGHT = 1.0
_BASAL_WORDS = {"basal", "base", "bases", "lower", "ll", "lr", "lateral_left", "lateral_right"}


def site_side(chest_site):
    """``"left"``, ``"right"`` or ``None`` for a chest-site name.

    Examples
    --------
    >>> site_side("posterior_basal_left"), site_side("Pr"), site_side("trachea")
    ('left', 'right', None)
    """
    name = chest_site.lower()
    if "left" in name or re.fullmatch(r"[apl]l", name):
        return "left"
    if "right" in name or re.fullmatch(r"[apl]r", name):
        return "right"
    return None


def is_basal(chest_site):
    """Whether a chest-site name denotes a lung base (see the module docstring).

    Examples
    --------
    >>> is_basal("posterior_basal_left"), is_basal("Ll"), is_basal("anterior_left")
    (True, True, False)
    """
    name = chest_site.lower()
    tokens = set(re.split(r"[^a-z]+", name)) | {name}
    return bool(tokens & _BASAL_WORDS)


def aggregate_visit(site_probabilities, *, threshold):
    """Combine per-site crackle probabilities into the visit's auscultation finding.

    Parameters
    ----------
    site_probabilities : mapping of str to float or None
        Crackle probability per chest site (the mean over that site's recordings that
        passed the quality gate); None for a site with no usable recording.
    threshold : float, keyword-only
        The model's operating threshold (manifest ``threshold``).

    Returns
    -------
    dict
        ``visit_crackle_probability`` (weighted mean, basal sites x2),
        ``bilateral_basal_probability`` (the lower of the two sides' highest basal values;
        None unless both bases were recorded), ``bilateral_basal_crackles`` (both sides
        at or above the threshold), ``sites`` and ``missing_basal_sides``.

    Examples
    --------
    >>> r = aggregate_visit({"posterior_basal_left": 0.9, "posterior_basal_right": 0.7,
    ...                      "anterior_left": 0.1}, threshold=0.5)
    >>> r["visit_crackle_probability"], r["bilateral_basal_probability"], r["bilateral_basal_crackles"]
    (0.66, 0.7, True)
    """
    if not 0.0 <= threshold <= 1.0:
        raise AudioError(f"threshold must be within [0, 1], got {threshold}")
    usable = {}
    for site, p in site_probabilities.items():
        if p is None:
            continue
        if not 0.0 <= p <= 1.0:
            raise AudioError(f"crackle probability of {site!r} must be within [0, 1], got {p}")
        usable[site] = float(p)
    weights = {s: BASAL_WEIGHT if is_basal(s) else OTHER_WEIGHT for s in usable}
    total = sum(weights.values())
    visit = round(sum(weights[s] * p for s, p in usable.items()) / total, 6) if total else None
    basal = {"left": [], "right": []}
    for site, p in usable.items():
        side = site_side(site)
        if is_basal(site) and side:
            basal[side].append(p)
    missing = [side for side, values in basal.items() if not values]
    bilateral = None if missing else round(min(max(basal["left"]), max(basal["right"])), 6)
    return {
        "visit_crackle_probability": visit,
        "bilateral_basal_probability": bilateral,
        "bilateral_basal_crackles": bool(bilateral is not None and bilateral >= threshold),
        "missing_basal_sides": missing,
        "sites": {s: {"crackle_probability": p, "basal": is_basal(s), "side": site_side(s)} for s, p in usable.items()},
    }
