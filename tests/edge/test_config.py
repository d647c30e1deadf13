"""Configuration: defaults, precedence, and refusals that name the offending key."""
from typing import get_args, get_origin

import pytest
from pydantic import BaseModel

from edge.config import EVIDENCE_SETTINGS, EVIDENCE_TABLE_SETTINGS, TRIAGE_SETTINGS, Settings, load_settings
from edge.errors import ConfigError
from edge.fusion.evidence import EvidenceOptions
from edge.fusion.triage import TriageThresholds
from support import packages_loaded_after

# Every test here reads only the settings it gives, not the runner's ILDSCREEN_ variables.
pytestmark = pytest.mark.usefixtures("no_env_settings")


def test_defaults_listen_on_loopback_8080(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database_path == tmp_path / "ildscreen.db"


def test_file_then_environment_then_flags(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text("port = 9000\nlockout_threshold = 3\n")
    assert load_settings(data_dir=tmp_path).port == 9000
    monkeypatch.setenv("ILDSCREEN_PORT", "9100")
    settings = load_settings(data_dir=tmp_path)
    assert settings.port == 9100 and settings.lockout_threshold == 3
    assert load_settings(data_dir=tmp_path, port=9200).port == 9200


def test_unknown_key_in_file_is_named(tmp_path):
    (tmp_path / "config.toml").write_text("prot = 9000\n")
    with pytest.raises(ConfigError, match="prot: unknown setting"):
        load_settings(data_dir=tmp_path)


def test_unknown_environment_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ILDSCREEN_PROT", "1")
    with pytest.raises(ConfigError, match="ILDSCREEN_PROT: unknown setting"):
        load_settings(data_dir=tmp_path)


def test_invalid_value_is_named_with_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("ILDSCREEN_PORT", "70000")
    with pytest.raises(ConfigError, match="port: Input should be less than or equal to 65535"):
        load_settings(data_dir=tmp_path)


def test_broken_toml_is_reported_with_the_file(tmp_path):
    (tmp_path / "config.toml").write_text("port = = 1\n")
    with pytest.raises(ConfigError, match="config.toml: not valid TOML"):
        load_settings(data_dir=tmp_path)


def test_every_setting_has_title_and_description():
    for name, field in Settings.model_fields.items():
        assert field.title and field.description, name


def test_triage_thresholds_must_be_ordered(tmp_path):
    (tmp_path / "config.toml").write_text("triage_intermediate = 0.5\ntriage_high = 0.3\n")
    with pytest.raises(ConfigError, match=r"triage_intermediate \(0.5\) must be below triage_high \(0.3\)"):
        load_settings(data_dir=tmp_path)


def test_each_triage_setting_is_its_triage_threshold_field():
    """The triage settings are declared once, on TriageThresholds: every field there is a setting of the same
    type, default, limits, title and description (a field added there and not here, or a setting declared by
    hand that drifts from it, fails)."""
    assert sorted(TRIAGE_SETTINGS.values()) == sorted(TriageThresholds.model_fields)
    for setting, name in TRIAGE_SETTINGS.items():
        ours, theirs = Settings.model_fields[setting], TriageThresholds.model_fields[name]
        assert ours.annotation == theirs.annotation, setting
        assert ours.get_default(call_default_factory=True) == theirs.get_default(call_default_factory=True), setting
        assert (ours.title, ours.description, ours.metadata) == (theirs.title, theirs.description, theirs.metadata)
    assert Settings.model_fields["triage_high"] is not TriageThresholds.model_fields["high"]


def test_the_triage_settings_reach_the_thresholds_under_their_names(tmp_path, monkeypatch):
    assert load_settings(data_dir=tmp_path).triage_thresholds == TriageThresholds()
    monkeypatch.setenv("ILDSCREEN_TRIAGE_SJD_OLDER_AGE_FROM", "75")
    monkeypatch.setenv("ILDSCREEN_MONITORING_PFT_MONTHS_AFTER_FIRST_YEAR", '{"SSc": 12}')
    (tmp_path / "config.toml").write_text("triage_high = 0.4\n")
    thresholds = load_settings(data_dir=tmp_path).triage_thresholds
    assert (thresholds.sjd_older_age_from, thresholds.high) == (75, 0.4)
    assert thresholds.monitoring_after_first_year == {"SSc": 12}


@pytest.mark.parametrize(("values", "message"), [
    ({"monitoring_pft_months_after_first_year": {"Gout": 12}},
     r"monitoring_pft_months_after_first_year: Value error, unknown CTD 'Gout'"),
    ({"triage_sjd_older_age_from": 30}, "triage_sjd_older_age_from: Input should be greater than or equal to 40"),
    ({"triage_rescreen_low_months": 0}, "triage_rescreen_low_months: Input should be greater than or equal to 1"),
])
def test_a_refused_triage_setting_is_named_at_start_up(tmp_path, values, message):
    """The checks that ride on TriageThresholds' fields stop the service's start, naming the setting."""
    with pytest.raises(ConfigError, match=message):
        load_settings(data_dir=tmp_path, **values)


def test_each_evidence_setting_is_its_evidence_option_field():
    """The evidence settings are declared once, on EvidenceOptions: every field there is a setting with the same
    title and description; a list of the same items where the option is a tuple, with the same default and
    limits; and for a table of its own (a model) a dict of overrides of its rows, none by default."""
    assert sorted(EVIDENCE_SETTINGS.values()) == sorted(EvidenceOptions.model_fields)
    assert EVIDENCE_TABLE_SETTINGS == ("evidence_validation_rule", "evidence_undetermined_prior", "evidence_odds_ratios",
                                       "evidence_prior_bounds")
    for setting, name in EVIDENCE_SETTINGS.items():
        ours, theirs = Settings.model_fields[setting], EvidenceOptions.model_fields[name]
        assert (ours.title, ours.description) == (theirs.title, theirs.description), setting
        if setting in EVIDENCE_TABLE_SETTINGS:
            assert issubclass(theirs.annotation, BaseModel) and get_origin(ours.annotation) is dict, setting
            assert (ours.get_default(call_default_factory=True), ours.metadata) == ({}, []), setting
            continue
        tuple_of = get_origin(theirs.annotation) is tuple
        assert ours.annotation == (list[get_args(theirs.annotation)[0]] if tuple_of else theirs.annotation), setting
        assert (ours.default, ours.metadata) == (theirs.default, theirs.metadata), setting


def test_the_evidence_settings_reach_the_options_under_their_names(tmp_path, monkeypatch):
    """Lists in the settings, tuples in the options; a table's overrides fill the rest of the table from its
    defaults; the stored form (JSON) holds lists and whole tables."""
    assert load_settings(data_dir=tmp_path).evidence_options == EvidenceOptions()
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_CHEST_PIECES_CANNOT_CLEAR", '["bell", "extended"]')
    monkeypatch.setenv("ILDSCREEN_EVIDENCE_UNDETERMINED_PRIOR", '{"base": 0.2}')
    (tmp_path / "config.toml").write_text('evidence_lr_cap = 5\n'
                                          'evidence_protocol_basal_sites = ["posterior_left_base"]\n')
    settings = load_settings(data_dir=tmp_path)
    assert settings.evidence_chest_pieces_cannot_clear == ["bell", "extended"]
    assert settings.evidence_protocol_basal_sites == ["posterior_left_base"]
    options = settings.evidence_options
    assert (options.chest_pieces_cannot_clear, options.protocol_basal_sites) == (("bell", "extended"),
                                                                                ("posterior_left_base",))
    assert (options.lr_cap, options.undetermined_prior.base, options.undetermined_prior.low) == (5.0, 0.2, 0.06)
    stored = options.model_dump(mode="json")
    assert stored["chest_pieces_cannot_clear"] == ["bell", "extended"]
    assert stored["undetermined_prior"] == {"base": 0.2, "low": 0.06, "high": 0.56}
    assert stored["validation_rule"] == EvidenceOptions().validation_rule.model_dump(mode="json")


@pytest.mark.parametrize(("values", "message"), [
    ({"evidence_chest_pieces_cannot_clear": ["stethoscope"]},
     r"evidence_chest_pieces_cannot_clear.0: Value error, unknown chest piece 'stethoscope'; expected one of "
     r"\['bell', 'diaphragm', 'extended', 'not_stated'\]"),
    ({"evidence_protocol_basal_sites": []}, "evidence_protocol_basal_sites: List should have at least 1 item"),
    ({"evidence_lr_cap": 1}, "evidence_lr_cap: Input should be greater than 1"),
    ({"evidence_validation_rule": {"min_patients": 0}},
     r"evidence_validation_rule: \('min_patients',\): Input should be greater than or equal to 1"),
])
def test_a_refused_evidence_setting_is_named_at_start_up(tmp_path, values, message):
    """The limits declared on EvidenceOptions' fields (and its tables' rows) stop the start, naming the setting."""
    with pytest.raises(ConfigError, match=message):
        load_settings(data_dir=tmp_path, **values)


def test_the_ct_servers_variables_do_not_stop_the_edge(tmp_path, monkeypatch):
    monkeypatch.setenv("ILDSCREEN_IMAGING_PORT", "8090")
    assert load_settings(data_dir=tmp_path).port == 8080


@pytest.mark.parametrize("url", ["http://hospital.example.org/ildscreen", "http://10.0.0.5:8090",
                                 "http://localhost.evil.example", "http://127.0.0.1.nip.io"])
def test_a_plain_http_referral_server_off_this_machine_is_refused_naming_the_key(tmp_path, monkeypatch, url):
    """Issue 15: the referral server URL could be http://, sending referrals and the clinic token in clear."""
    monkeypatch.setenv("ILDSCREEN_REFERRAL_SERVER_URL", url)
    with pytest.raises(ConfigError, match="referral_server_url: .* must use https://"):
        load_settings(data_dir=tmp_path)


@pytest.mark.parametrize("url", ["https://hospital.example.org/ildscreen", "http://127.0.0.1:8090",
                                 "http://localhost:8090", "http://[::1]:8090"])
def test_https_or_a_loopback_referral_server_is_accepted(tmp_path, url):
    assert load_settings(data_dir=tmp_path, referral_server_url=url).referral_server_url == url


def test_reading_the_settings_does_not_load_onnx_runtime():
    """Every command and the service import edge.config, which takes the evidence settings from
    edge.fusion.evidence, which reads manifests through edge.inference.models and so imports the
    backend registry: the backends import ONNX Runtime when they make a session, not with the module."""
    assert packages_loaded_after("edge.config", "edge.inference", "edge.inference.models",
                                 packages=("onnxruntime",)) == []


def test_the_command_line_and_the_service_start_without_onnx_runtime():
    """`ildscreen --help` (every command module, the lab and breath models' modules among them) and
    the service's app load ONNX Runtime only when a model session is made."""
    assert packages_loaded_after("edge.cli", "edge.app", packages=("onnxruntime",)) == []


@pytest.mark.parametrize("argv", [["--help"], ["calibrate", "--help"], ["db", "--help"]])
def test_the_command_line_help_loads_no_scientific_library(argv):
    """`ildscreen --help` and a command's --help answer without scipy or scikit-learn (about a second
    of imports): the site calibration's fit imports scipy when 'ildscreen calibrate' runs, the service's
    app is imported when 'ildscreen serve' runs."""
    assert packages_loaded_after("edge.cli", packages=("scipy", "sklearn", "onnxruntime"),
                                 then=f"edge.cli.cli({argv!r}, standalone_mode=False)") == []


#: What the light commands leave out: numbers (numpy), models, FHIR and HTTP, the web app, sqlite-utils and
#: the sensor boards' driver (each command imports what it uses when it runs: ``ildscreen bench cli-start``).
HEAVY_FOR_HELP = ("numpy", "onnxruntime", "fhir", "requests", "flask", "sqlite_utils", "firmware_interface")


@pytest.mark.parametrize("argv", [["--help"], ["screen", "--help"], ["device", "--help"], ["programme", "--help"],
                                  ["users", "list", "--help"], ["audio", "--help"]])
def test_the_help_loads_none_of_what_the_commands_run_on(argv):
    assert packages_loaded_after("edge.cli", packages=HEAVY_FOR_HELP,
                                 then=f"edge.cli.cli({argv!r}, standalone_mode=False)") == []


@pytest.mark.parametrize("argv", [["users", "list"], ["models", "list"], ["outbox", "status"]])
def test_listing_accounts_bundles_or_referrals_loads_no_fhir_http_web_app_or_model_runtime(argv, tmp_path):
    """The referral's FHIR, HTTP, Flask and ONNX Runtime are for the commands that refer, deliver, serve or
    score: reading the outbox imports the referral's checks and FHIR only when a referral is made."""
    from click.testing import CliRunner

    from edge.cli import cli

    assert CliRunner().invoke(cli, ["db", "init", "--data-dir", str(tmp_path)]).exit_code == 0
    call = f"edge.cli.cli({[*argv, '--data-dir', str(tmp_path)]!r}, standalone_mode=False)"
    assert packages_loaded_after("edge.cli", packages=("fhir", "requests", "flask", "onnxruntime"), then=call) == []


@pytest.mark.parametrize("argv", [["models", "list"], ["models", "list", "--json"]])
def test_listing_the_model_bundles_loads_no_numpy_or_database_library(argv, tmp_path):
    """Listing reads the models folder's pointer and manifests: numpy, ONNX Runtime and sqlite-utils
    (which imports numpy itself) are for the commands that check, smoke-run, switch or score a bundle.
    The CPU backend imports numpy when a session runs, the bundle checks the audio scoring, the evidence
    model and the lab and breath features when they check a manifest, the model store the database's
    clock when it records a switch (``ildscreen bench cli-start``)."""
    from click.testing import CliRunner

    from edge.cli import cli

    assert CliRunner().invoke(cli, ["db", "init", "--data-dir", str(tmp_path)]).exit_code == 0
    call = f"edge.cli.cli({[*argv, '--data-dir', str(tmp_path)]!r}, standalone_mode=False)"
    assert packages_loaded_after("edge.cli", then=call, packages=(
        "numpy", "onnxruntime", "sqlite_utils", "scipy", "evaluation", "tabular_models")) == []



def test_reading_the_settings_loads_no_numpy_models_or_http(tmp_path):
    """The settings declare the evidence and audio settings from modules of their own
    (``edge.fusion.evidence_options``, ``audio_models.limits``) and import the bundle checks only to check a
    pinned key: every command reads the settings, and numpy, the evidence model, the models' registry and
    the audio scoring (``ildscreen bench cli-start``, docs/benchmarks.md) are for the commands that score."""
    loaded = packages_loaded_after("edge.config", then=f"edge.config.load_settings(data_dir={str(tmp_path)!r})",
                                   packages=("numpy", "onnxruntime", "scipy", "evaluation", "tabular_models",
                                             "cryptography", "fhir", "requests", "flask"))
    assert loaded == []
