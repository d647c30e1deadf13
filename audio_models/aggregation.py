"""Chest sites: which are lung bases and on which side. Serving module: numpy only.

Basal fine crackles are the bedside sign of fibrotic ILD (Cottin & Cordier, Eur Respir J
2012;40:519); how sites combine into the visit's evidence is ``edge.fusion.evidence``
(``docs/evidence.md``).

A chest site is *basal* when its name holds ``basal``, ``base`` or ``lower``, or is an
ICBHI lateral site (``Ll``/``Lr``, recorded over the lower lateral chest). Its side is
read from ``left``/``right`` in the name or the ICBHI suffix ``l``/``r``.
"""

import re

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
