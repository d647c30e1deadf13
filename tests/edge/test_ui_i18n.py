"""The tablet UI's translations: every key in both languages, every vocabulary term covered,
and the advice shown to nurses matches the triage module's steps."""
import re
from pathlib import Path

import pytest

from edge.fusion.triage import RECOMMENDATIONS
from edge.vocabulary import CHEST_SITES, SYMPTOMS
from edge.web.i18n import CATALOG, LANGUAGES
from edge.web.views import LAB_FORM_ANALYTES

TEMPLATES = Path(__file__).resolve().parents[2] / "edge" / "templates"


def test_every_entry_has_every_language():
    for key, entry in CATALOG.items():
        assert set(entry) == set(LANGUAGES), key


def test_every_site_symptom_and_tier_is_translated():
    for site in CHEST_SITES:
        assert f"site_{site}" in CATALOG
    for symptom in SYMPTOMS:
        assert f"symptom_{symptom}" in CATALOG
    for analyte in LAB_FORM_ANALYTES:
        assert f"analyte_{analyte['key']}" in CATALOG
    for tier in RECOMMENDATIONS:
        assert f"rec_steps_{tier}" in CATALOG and f"tier_{tier}" in CATALOG


@pytest.mark.parametrize("tier", list(RECOMMENDATIONS))
def test_english_advice_is_the_triage_modules_advice(tier):
    assert CATALOG[f"rec_steps_{tier}"]["en"].split("|") == RECOMMENDATIONS[tier]["next_steps"]
    assert len(CATALOG[f"rec_steps_{tier}"]["zh-CN"].split("|")) == len(RECOMMENDATIONS[tier]["next_steps"])


def test_templates_use_only_known_keys():
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+)'\)", template.read_text(encoding="utf-8")))
    assert used and used <= set(CATALOG), used - set(CATALOG)
