"""The reference pages in docs/reference/ say what the code says: regenerating them in memory
gives the committed files, and a changed vocabulary, setting or command makes its page stale."""
from __future__ import annotations

import shutil

import click
import pytest

from edge import docs_gen, vocabulary
from edge.config import Settings
from imaging_server.config import ImagingSettings


@pytest.mark.parametrize("name", sorted(docs_gen.PAGES))
def test_committed_page_matches_the_code(name):
    path = docs_gen.REFERENCE_DIR / name
    assert path.exists(), f"docs/reference/{name} is missing: run python -m edge.docs_gen"
    assert path.read_text(encoding="utf-8") == docs_gen.PAGES[name](), \
        f"docs/reference/{name} is stale: run python -m edge.docs_gen and commit it"


@pytest.fixture
def reference_copy(tmp_path):
    copy = tmp_path / "reference"
    shutil.copytree(docs_gen.REFERENCE_DIR, copy)
    return copy


def test_a_new_symptom_makes_only_the_vocabulary_page_stale(reference_copy, monkeypatch):
    monkeypatch.setitem(vocabulary.SYMPTOMS, "haemoptysis", "Coughing up blood")
    assert docs_gen.stale_pages(reference_copy) == ["vocabulary.md"]
    docs_gen.write_pages(reference_copy)
    assert "`haemoptysis`" in (reference_copy / "vocabulary.md").read_text(encoding="utf-8")
    assert docs_gen.stale_pages(reference_copy) == []


def test_a_new_command_makes_the_cli_page_stale(reference_copy, monkeypatch):
    from edge.cli import cli

    monkeypatch.setitem(cli.commands, "hello", click.Command("hello", help="Say hello."))
    assert docs_gen.stale_pages(reference_copy) == ["cli.md"]


@pytest.mark.parametrize(("settings_class", "name", "page"), [
    (Settings, "lockout_threshold", "settings.md"),
    # The hospital CT server's settings (lung-mask and finding thresholds among them) have their own page.
    (ImagingSettings, "lung_air_threshold_hu", "imaging-settings.md"),
])
def test_a_changed_setting_makes_only_its_settings_page_stale(reference_copy, monkeypatch, settings_class, name,
                                                              page):
    field = settings_class.model_fields[name]
    monkeypatch.setattr(field, "description", "A different meaning.")
    settings_class.model_rebuild(force=True)
    try:
        assert docs_gen.stale_pages(reference_copy) == [page]
    finally:
        monkeypatch.undo()
        settings_class.model_rebuild(force=True)


def test_a_deleted_or_hand_edited_page_is_named(reference_copy):
    (reference_copy / "labs.md").unlink()
    with (reference_copy / "api.md").open("a", encoding="utf-8") as handle:
        handle.write("a hand edit\n")
    assert docs_gen.stale_pages(reference_copy) == ["labs.md", "api.md"]


def test_check_mode_exits_1_naming_stale_pages(monkeypatch, tmp_path):
    from click.testing import CliRunner

    monkeypatch.setattr(docs_gen, "REFERENCE_DIR", tmp_path / "empty")
    result = CliRunner().invoke(docs_gen.main, ["--check"])
    assert result.exit_code == 1 and "docs/reference/settings.md" in result.output
    assert not (tmp_path / "empty").exists(), "--check must write nothing"


def test_lab_page_lists_every_accepted_unit_of_the_catalogue():
    from tabular_models.lab_catalogue import ANALYTES

    page = docs_gen.labs_page()
    for analyte in ANALYTES:
        for unit in analyte.units:
            assert f"`{unit}`" in page, f"{analyte.key}: unit {unit} not listed"
        for code in analyte.loinc:
            assert f"`{code}`" in page


def test_the_settings_page_shows_factory_defaults_and_an_optional_settings_limits():
    """A default made by a default_factory is not in the JSON schema, and an optional setting's limits sit on
    its non-null option: the page still shows both, instead of "required" and no limits."""
    page = docs_gen.settings_page()
    assert "| `device_ports` | list of string | `[]` |" in page
    assert "| `monitoring_pft_months_after_first_year` | object | `{}` |" in page
    assert "| `triage_sjd_older_age_from` | integer or null | `null` | ≥ 40, ≤ 100 |" in page
    assert "`required`" not in page  # every setting has a default
