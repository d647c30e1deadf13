"""Service configuration: a pydantic settings tree read from the data folder and the environment.

Precedence, highest first: ``ILDSCREEN_*`` environment variables, ``config.toml`` in the data
folder, the defaults below. Unknown keys are rejected so that a typo never silently falls back to
a default.
"""
from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from audio_models.limits import DEFAULT_AUDIO_LIMITS, AudioLimits
from common.settings import load_layered_settings
from edge.errors import ConfigError
from edge.fusion.evidence_options import EvidenceOptions
from edge.fusion.triage import TriageThresholds, check_tier_order
from edge.vocabulary import (STETHOSCOPE_NOT_STATED, ChestPiece, StethoscopeName, stethoscope_key,
                             unknown_word_message)

ENV_PREFIX = "ILDSCREEN_"
# The hospital CT server's own settings; a box running both must not trip the edge's check.
FOREIGN_ENV_PREFIXES = ("ILDSCREEN_IMAGING_",)
DEFAULT_DATA_DIR = Path("data")
# Each triage setting and the TriageThresholds field it sets: the field's name behind ``triage_``, but
# for the monitoring intervals, named as the one that kept the name it had before it joined the triage.
MONITORING_SETTINGS = {"monitoring_after_first_year": "monitoring_pft_months_after_first_year",
                       "monitoring_first_year": "monitoring_pft_months_first_year"}
TRIAGE_SETTINGS = {MONITORING_SETTINGS.get(field, f"triage_{field}"): field for field in TriageThresholds.model_fields}


# Each evidence setting and the EvidenceOptions field it sets: the field's name behind ``evidence_``.
EVIDENCE_SETTINGS = {f"evidence_{field}": field for field in EvidenceOptions.model_fields}
# The evidence settings that override rows of a table of their own (a model: the validation rule, ...).
EVIDENCE_TABLE_SETTINGS = tuple(setting for setting, field in EVIDENCE_SETTINGS.items()
                                if isinstance(EvidenceOptions.model_fields[field].annotation, type)
                                and issubclass(EvidenceOptions.model_fields[field].annotation, BaseModel))


def field_copy(model: type[BaseModel], field: str) -> FieldInfo:
    """A copy of ``model``'s ``field``, to declare a setting with it on ``Settings``.

    Copied so that the two classes never share one field info: older pydantic releases complete it in
    place on the class it is declared on.
    """
    return copy.deepcopy(model.model_fields[field])


def triage_setting(setting: str) -> FieldInfo:
    """The ``TriageThresholds`` field behind ``setting`` (a copy), to declare it on ``Settings``."""
    return field_copy(TriageThresholds, TRIAGE_SETTINGS[setting])


def evidence_setting(setting: str) -> FieldInfo:
    """The ``EvidenceOptions`` field behind ``setting`` (a copy), to declare it on ``Settings``.

    A table of its own (``EVIDENCE_TABLE_SETTINGS``) is set by overrides of its rows: a dict, empty by
    default, checked by the table (``Settings._known_evidence_overrides``), with the field's title and
    description; each row's default and limits stay declared on the table.
    """
    field = field_copy(EvidenceOptions, EVIDENCE_SETTINGS[setting])
    if setting in EVIDENCE_TABLE_SETTINGS:
        return Field(default_factory=dict, title=field.title, description=field.description)
    return field


class Settings(BaseSettings):
    """Settings of one clinic service instance."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        title="ildscreen settings",
        validate_default=True,
    )

    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        title="Data folder",
        description="Holds the SQLite database, raw recordings, config.toml and the session secret.",
    )
    host: str = Field(
        "127.0.0.1",
        title="Listen address",
        description="Interface to bind. Keep loopback unless a TLS-terminating proxy sits in front.",
    )
    port: int = Field(8080, ge=1, le=65535, title="Listen port", description="TCP port of the HTTP server.")
    threads: int = Field(
        8, ge=1, le=64, title="Worker threads", description="Request-handling threads of the HTTP server."
    )
    max_upload_mb: float = Field(
        50.0,
        gt=0,
        le=1024,
        title="Largest upload (MB)",
        description="Requests with a larger body are refused with HTTP 413 before anything is stored.",
    )
    audio_min_sample_rate: int = Field(
        DEFAULT_AUDIO_LIMITS.min_sample_rate,
        ge=1,
        le=192_000,
        title="Lowest recording rate (Hz)",
        description="Recordings whose header declares a lower sample rate are refused (HTTP 422) before decoding; "
                    "default the 4 kHz the crackle model listens at (programme assumption).",
    )
    audio_max_sample_rate: int = Field(
        DEFAULT_AUDIO_LIMITS.max_sample_rate,
        ge=1,
        le=384_000,
        title="Highest recording rate (Hz)",
        description="Recordings whose header declares a higher sample rate are refused (HTTP 422) before decoding.",
    )
    audio_max_duration_s: float = Field(
        DEFAULT_AUDIO_LIMITS.max_duration_s,
        gt=0,
        le=3600,
        title="Longest recording (seconds)",
        description="Longer recordings (by header, and while decoding) are refused with HTTP 413; one chest site "
                    "needs well under a minute (programme assumption).",
    )
    audio_max_channels: int = Field(
        DEFAULT_AUDIO_LIMITS.max_channels,
        ge=1,
        le=32,
        title="Most recording channels",
        description="Recordings with more channels are refused with HTTP 413 before decoding.",
    )
    audio_max_decoded_samples: int = Field(
        DEFAULT_AUDIO_LIMITS.max_decoded_samples,
        ge=1,
        le=200_000_000,
        title="Most decoded samples per recording",
        description="Frames x channels a recording's header may declare; more is refused with HTTP 413 before "
                    "decoding (the default, 24 million, is 96 MB of float32: programme assumption).",
    )
    audio_max_concurrent_decodes: int = Field(
        1,
        ge=1,
        le=64,
        title="Recordings decoded at once",
        description="Uploads and captures beyond this many wait for a decode slot (HTTP 503 after "
                    "audio_decode_wait_s), so the service's memory does not grow with its worker threads: the "
                    "longest recording the defaults admit (120 s at 192 kHz) needs about 200 MB while it is decoded and "
                    "checked, a normal one a few MB and well under a second. Measured with four such uploads at "
                    "once: a peak of 362 MB at 1 slot, 623 MB at 4 (tests/edge/test_memory_served.py's upload).",
    )
    audio_decode_wait_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        title="Longest wait for a decode slot (seconds)",
        description="A recording that waits longer for one of audio_max_concurrent_decodes is refused with "
                    "HTTP 503 (nothing stored); the nurse sends it again.",
    )
    chest_piece_default: ChestPiece = Field(
        "diaphragm",
        title="Chest piece the tablet's recording form starts on",
        description="Programme assumption: the recording form's chest-piece choice starts here and the nurse "
                    "changes it when another was used. The diaphragm, because through the Littmann 3200's diaphragm "
                    "filter the crackle detector found 6 of 8 KAUH adults with crackles, through its extended filter "
                    "4 of 9 and through its bell filter 1 of 9, over all 37 KAUH adults (22 of whom chose its threshold; "
                    "on the 15 test adults alone 3 of 3, 2 of 3 and 0 of 3: docs/evidence.md, model 0.6.0); the tablet's "
                    "recording hint names it as the piece to use (unless it is not_stated or one of "
                    "evidence_chest_pieces_cannot_clear, which the hint names as pieces to avoid). An API upload "
                    "that does not say is stored as not_stated.",
    )
    stethoscopes: list[StethoscopeName] = Field(
        default_factory=list,
        title="The clinic's stethoscopes",
        description="Make and model of each stethoscope the clinic records with, e.g. [\"Littmann 3200\"]: the names a "
                    "take may state (the tablet's recording form offers them, with Not stated; the upload API's "
                    "stethoscope field takes one of them). Write them as the crackle model's manifest names its "
                    "devices (validation.populations.*.devices, without the chest piece), so that each take's result "
                    "can say whether the model was validated on that stethoscope (the names are compared without "
                    "case and punctuation). Empty: no take states a stethoscope.",
    )
    board_stethoscopes: dict[str, StethoscopeName] = Field(
        default_factory=dict,
        title="Stethoscope of each board",
        description="Board id (as the board reports it, e.g. STETH-40) to the stethoscope, one of stethoscopes, it "
                    "records through: a capture from the board is stored with that stethoscope; a board not named "
                    "here: not_stated. The board's wire protocol carries no make or model.",
    )
    upload_stethoscope: str = Field(
        STETHOSCOPE_NOT_STATED,
        title="Stethoscope of uploads and the tablet's microphone",
        description="One of stethoscopes, or not_stated: the stethoscope the tablet's recording form starts on (the "
                    "nurse picks another from the list when another was used) and the one an API upload that names "
                    "none is stored with.",
    )
    lab_unit_check_factor: float = Field(
        2.0,
        ge=1,
        le=1000,
        title="Lab unit check: how far outside the reference range",
        description="Programme assumption: a blood result (typed on the tablet, sent to the lab results API, or in "
                    "an imported lab file or FHIR Bundle) is held for the nurse to confirm when it lies outside the analyte's reference range widened this many "
                    "times ([low / factor, high × factor]) while the same number in another accepted unit of the "
                    "analyte lies inside that window: a unit slip such as bilirubin 0.8 typed into µmol/L from a "
                    "report in mg/dL (docs/reference/labs.md). The commands `ildscreen labs score` and `ildscreen "
                    "screen --labs`, which store nothing, name such a result in a warning and score it as given. 1 "
                    "asks about every value outside the reference range that another unit explains; larger asks less.",
    )
    lockout_threshold: int = Field(
        5,
        ge=1,
        le=100,
        title="Failed logins before lockout",
        description="Consecutive wrong passwords after which an account is locked.",
    )
    lockout_minutes: float = Field(
        15.0, gt=0, le=24 * 60, title="Lockout duration (minutes)", description="How long a locked account stays locked."
    )
    session_hours: float = Field(
        12.0,
        gt=0,
        le=24 * 30,
        title="Session lifetime (hours)",
        description="A browser session expires this long after login; one clinic shift by default.",
    )
    secure_cookies: bool = Field(
        False,
        title="Secure cookies",
        description="Mark the session cookie Secure; turn on when the service is reached over HTTPS.",
    )
    # The triage settings: default, limits, checks, title and description are declared once, on
    # edge.fusion.triage.TriageThresholds (``TRIAGE_SETTINGS``); here only their names and types.
    triage_intermediate: float = triage_setting("triage_intermediate")
    triage_high: float = triage_setting("triage_high")
    triage_rescreen_discuss_months: int = triage_setting("triage_rescreen_discuss_months")
    triage_rescreen_low_months: int = triage_setting("triage_rescreen_low_months")
    triage_hrct_negative_valid_months: int = triage_setting("triage_hrct_negative_valid_months")
    monitoring_pft_months_after_first_year: dict[str, int] = triage_setting("monitoring_pft_months_after_first_year")
    monitoring_pft_months_first_year: dict[str, list[int]] = triage_setting("monitoring_pft_months_first_year")
    triage_red_flag_tiers: dict[str, str] = triage_setting("triage_red_flag_tiers")
    triage_pft_abnormal_below: float = triage_setting("triage_pft_abnormal_below")
    triage_lymphopenia_below: float = triage_setting("triage_lymphopenia_below")
    triage_lymphopenia_lookback_months: int = triage_setting("triage_lymphopenia_lookback_months")
    triage_anti_mda5_rescreen_months: int = triage_setting("triage_anti_mda5_rescreen_months")
    triage_sjd_older_age_from: Optional[int] = triage_setting("triage_sjd_older_age_from")
    # The evidence settings: default, limits, title and description are declared once, on
    # edge.fusion.evidence_options.EvidenceOptions (``EVIDENCE_SETTINGS``); here only their names and types. Lists
    # where the options hold tuples, and overrides (dicts) of the tables the options hold whole.
    evidence_dependence_weight: float = evidence_setting("evidence_dependence_weight")
    evidence_lr_cap: float = evidence_setting("evidence_lr_cap")
    evidence_other_site_weight: float = evidence_setting("evidence_other_site_weight")
    evidence_protocol_basal_sites: list[str] = evidence_setting("evidence_protocol_basal_sites")
    evidence_chest_pieces_cannot_clear: list[ChestPiece] = evidence_setting("evidence_chest_pieces_cannot_clear")
    evidence_require_validated_stethoscope: bool = evidence_setting("evidence_require_validated_stethoscope")
    evidence_kl6_cutoff: float = evidence_setting("evidence_kl6_cutoff")
    evidence_assumption_spread: float = evidence_setting("evidence_assumption_spread")
    evidence_prior_age_from: int = evidence_setting("evidence_prior_age_from")
    evidence_validation_rule: dict[str, Any] = evidence_setting("evidence_validation_rule")
    evidence_undetermined_prior: dict[str, float] = evidence_setting("evidence_undetermined_prior")
    evidence_odds_ratios: dict[str, float] = evidence_setting("evidence_odds_ratios")
    evidence_prior_bounds: dict[str, float] = evidence_setting("evidence_prior_bounds")
    referral_server_url: Optional[str] = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        title="Hospital referral server",
        description="Base URL of the hospital's referral server; unset: referrals wait in the outbox.",
    )
    referral_server_token: Optional[SecretStr] = Field(
        None,
        title="Clinic token",
        description="This clinic's bearer token on the referral server (from 'ildscreen imaging-server clinics add').",
    )
    outbox_interval_s: float = Field(
        30.0,
        ge=1,
        le=3600,
        title="Outbox interval (seconds)",
        description="How often queued referrals are sent and CT results polled.",
    )
    result_poll_days: int = Field(
        60,
        ge=0,
        le=365,
        title="Days to wait for the radiologist's read",
        description="Programme assumption: for this many days after a referral's first CT result, the outbox keeps "
                    "asking the hospital for the radiologist's final or amended read (less often as time passes); "
                    "0 stops at the first result.",
    )
    backup_interval_hours: float = Field(
        24.0,
        ge=0,
        le=24 * 7,
        title="Backup interval (hours)",
        description="How often the running service writes an online backup to data/backups; 0 turns it off.",
    )
    backup_keep: int = Field(
        14, ge=1, le=1000, title="Backups kept", description="The newest this many backups are kept; older ones are deleted."
    )
    inference_backend: Literal["onnxruntime_cpu", "onnxruntime_cuda", "onnxruntime_tensorrt"] = Field(
        "onnxruntime_cpu",
        title="Inference backend",
        description="ONNX Runtime on the CPU, with CUDA, or with TensorRT (FP16) on a Jetson; a GPU backend "
                    "that cannot start falls back to the CPU with a warning.",
    )
    engine_cache_dir: Optional[Path] = Field(
        None,
        title="TensorRT cache folder",
        description="Persistent folder for TensorRT engine and timing caches; default data/engines.",
    )
    models_dir: Optional[Path] = Field(
        None,
        title="Installed models folder",
        description="Installed model bundles, the active pointer and the activation history "
                    "('ildscreen models'); default data/models. With nothing installed the bundled models serve.",
    )
    model_signing_keys: list[str] = Field(
        default_factory=list,
        title="Pinned model signing keys",
        description="Ed25519 public keys (base64 of the raw 32 bytes, as 'ildscreen models sign' prints) whose "
                    "signature a model bundle needs to be installed or served; the bundled models are trusted "
                    "as part of the package. Empty: only the bundled models can serve.",
    )
    inference_threads: int = Field(
        1, ge=1, le=16, title="Inference threads", description="CPU threads per model session."
    )
    device_port_patterns: list[str] = Field(
        default_factory=lambda: ["/dev/ttyUSB*", "/dev/ttyACM*", "/dev/rfcomm*"],
        title="Allowed sensor board ports",
        description="Shell-style patterns of the device paths a board may be registered on (USB-serial, "
                    "CDC-ACM, Bluetooth RFCOMM); '*' stays within one path segment. Anything else is refused.",
    )
    device_simulator: bool = Field(
        False,
        title="Allow the board simulator",
        description="Also allow the pseudo-terminals of 'ildscreen device simulate' as board ports "
                    "(tests and demonstrations only).",
    )
    device_ports: list[str] = Field(
        default_factory=list,
        title="Sensor board ports",
        description="Serial ports of the stethoscope and e-nose boards to register at start, e.g. [\"/dev/ttyACM0\"].",
    )
    outcome_window_months: float = Field(
        6.0,
        gt=0,
        le=36,
        title="Outcome window (months)",
        description="A visit is labelled by the first confirmed outcome (HRCT) this long after it "
                    "(programme assumption); later outcomes belong to a later visit.",
    )
    calibration_prior_sd_intercept: float = Field(
        0.5,
        gt=0,
        le=10,
        title="Site calibration shrinkage: intercept",
        description="SD (log-odds) of the prior that shrinks a site recalibration's intercept towards 0, "
                    "'no change' (programme assumption): smaller moves less on few outcomes.",
    )
    calibration_prior_sd_slope: float = Field(
        0.25,
        gt=0,
        le=10,
        title="Site calibration shrinkage: slope",
        description="SD of the prior that shrinks a site recalibration's slope towards 1 (programme assumption).",
    )
    psi_alert: float = Field(
        0.25,
        gt=0,
        le=5,
        title="Drift alert (PSI)",
        description="Population stability index of a model's output against its training distribution above "
                    "which the dashboard raises a drift alert; 0.25 is the credit-scoring rule of thumb "
                    "(Siddiqi 2006), a programme assumption for clinical models.",
    )
    programme_report_hours: float = Field(
        24.0,
        ge=0,
        le=24 * 31,
        title="Programme figures interval (hours)",
        description="How often the running service queues this clinic's de-identified programme figures for the "
                    "hospital's programme view (through the referral outbox); 0 turns it off "
                    "('ildscreen programme send' still works).",
    )
    programme_min_cell: int = Field(
        5,
        ge=1,
        le=100,
        title="Smallest count shown (programme figures)",
        description="Counts from 1 to one below this are suppressed in the figures sent to the hospital, with any "
                    "cell they could be derived from (small-cell rule of the CMS cell size suppression policy, "
                    "whose threshold is 11; 5 here is a programme assumption). 1: nothing suppressed.",
    )
    clinic_timezone: str = Field(
        "UTC",
        title="Clinic time zone",
        description="IANA zone name of the clinic, e.g. Asia/Shanghai: every date and time the tablet shows, and "
                    "'today' of the worklist, are in this zone (the store keeps UTC).",
    )
    clinic_name: str = Field(
        "",
        max_length=120,
        title="Clinic name",
        description="Printed on referral letters so the hospital knows who referred the patient.",
    )
    clinic_contact: str = Field(
        "",
        max_length=200,
        title="Clinic contact",
        description="Telephone or address printed on referral letters for the receiving pulmonologist.",
    )
    idle_logout_minutes: float = Field(
        5.0,
        ge=0.5,
        le=120,
        title="Idle lock (minutes)",
        description="A tablet page left untouched this long locks: the nurse re-enters her PIN (or her "
                    "password when she has set no PIN), so a shared tablet never shows one nurse's patients "
                    "to the next.",
    )
    pin_max_attempts: int = Field(
        5,
        ge=1,
        le=20,
        title="Wrong PINs before the locked session ends",
        description="Programme assumption: after this many wrong PINs on a locked tablet the session ends "
                    "and the nurse must log in with her password.",
    )
    capture_orphan_seconds: float = Field(
        15.0,
        ge=1,
        le=600,
        title="Board capture without a watcher (seconds)",
        description="A board capture whose progress nobody has asked for this long (the page was closed or "
                    "left) is cancelled on the board and nothing is stored; pages and API clients poll the "
                    "capture job more often than this.",
    )
    log_level: str = Field(
        "INFO",
        pattern="^(DEBUG|INFO|WARNING|ERROR)$",
        title="Log level",
        description="One of DEBUG, INFO, WARNING, ERROR. Patient identifiers are never logged at any level.",
    )

    @field_validator(*EVIDENCE_TABLE_SETTINGS)
    @classmethod
    def _known_evidence_overrides(cls, value: dict, info) -> dict:
        """Overrides of an evidence-model table are checked by that table's own model."""
        from pydantic import ValidationError as PydanticValidationError

        table = EvidenceOptions.model_fields[EVIDENCE_SETTINGS[info.field_name]].annotation
        try:
            table(**value)
        except PydanticValidationError as exc:
            error = exc.errors()[0]
            # A row's error names the row; a check of the whole table (its model validator) has no row.
            where = f"{error['loc']}: " if error["loc"] else ""
            raise ValueError(f"{info.field_name}: {where}{error['msg']}") from None
        return value

    @field_validator("clinic_timezone")
    @classmethod
    def known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai)") from exc
        return value

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)

    @property
    def referral_server_configured(self) -> bool:
        """Whether referrals can leave the clinic: a referral server's URL and token are both set
        (:func:`edge.outbox_worker.client_from_settings`; without them referrals wait in the outbox)."""
        return bool(self.referral_server_url) and self.referral_server_token is not None

    @model_validator(mode="after")
    def ordered_audio_rates(self) -> "Settings":
        if not self.audio_min_sample_rate <= self.audio_max_sample_rate:
            raise ValueError(f"audio_min_sample_rate ({self.audio_min_sample_rate}) must not be above "
                             f"audio_max_sample_rate ({self.audio_max_sample_rate})")
        return self

    @model_validator(mode="after")
    def stethoscopes_named_once(self) -> "Settings":
        seen: dict[str, str] = {}
        for name in self.stethoscopes:
            if name == STETHOSCOPE_NOT_STATED:
                raise ValueError(f"stethoscopes: {name!r} is what a take without a stethoscope says; not a name")
            if stethoscope_key(name) in seen:
                raise ValueError(f"stethoscopes: {name!r} and {seen[stethoscope_key(name)]!r} name the same stethoscope")
            seen[stethoscope_key(name)] = name
        for key, name in [*((f"board_stethoscopes[{board!r}]", name) for board, name in self.board_stethoscopes.items()),
                          *([("upload_stethoscope", self.upload_stethoscope)]
                            if self.upload_stethoscope != STETHOSCOPE_NOT_STATED else [])]:
            if name not in self.stethoscopes:
                raise ValueError(f"{key}: {unknown_word_message('stethoscope', name, self.stethoscopes)} "
                                 "(the names of the setting stethoscopes)")
        return self

    @model_validator(mode="after")
    def ordered_triage_thresholds(self) -> "Settings":
        check_tier_order(self.triage_intermediate, self.triage_high, names=("triage_intermediate", "triage_high"))
        return self

    @model_validator(mode="after")
    def referrals_leave_over_https(self) -> "Settings":
        # Referrals carry pseudonymised clinical data and the clinic's token: plain HTTP only to
        # this machine (a test double, or a TLS tunnel ending here).
        url = self.referral_server_url
        if url and urlsplit(url).scheme != "https" and not is_loopback(urlsplit(url).hostname):
            raise ValueError(f"referral_server_url: {url!r} must use https:// (plain http only to a loopback "
                             "address: localhost, 127.0.0.0/8, ::1)")
        return self

    @model_validator(mode="after")
    def signing_keys_are_ed25519(self) -> "Settings":
        if not self.model_signing_keys:
            return self
        # Imported late: the bundle checks pull in numpy and the models' code, which reading settings does not need.
        from edge.inference.bundle_checks import public_key_from_text

        for text in self.model_signing_keys:
            try:
                public_key_from_text(text)
            except ValueError as exc:
                raise ValueError(f"model_signing_keys: {exc}") from exc
        return self

    @model_validator(mode="after")
    def device_ports_allowed(self) -> "Settings":
        if not self.device_ports:
            return self
        from edge.devices import port_allowed  # imported late: edge.devices pulls in the capture stack

        for port in self.device_ports:
            if not port_allowed(port, self.allowed_port_patterns):
                raise ValueError(f"device_ports: {port!r} matches none of device_port_patterns "
                                 f"{self.allowed_port_patterns}")
        return self

    @property
    def allowed_port_patterns(self) -> list[str]:
        """``device_port_patterns`` plus the simulator's ports when ``device_simulator`` is on."""
        from edge.devices import SIMULATOR_PORT_PATTERN

        return [*self.device_port_patterns, *([SIMULATOR_PORT_PATTERN] if self.device_simulator else [])]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Init kwargs (CLI flags) beat the environment, which beats the file passed in as init.
        return (init_settings, env_settings)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "ildscreen.db"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def engine_cache_path(self) -> Path:
        return self.engine_cache_dir or self.data_dir / "engines"

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def site_secret_path(self) -> Path:
        return self.data_dir / "site_secret"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def triage_thresholds(self) -> TriageThresholds:
        """The triage's programme settings, as the triage uses them and stores them with each assessment."""
        return TriageThresholds(**{field: getattr(self, setting) for setting, field in TRIAGE_SETTINGS.items()})

    @property
    def evidence_options(self) -> EvidenceOptions:
        """The evidence model's programme assumptions, as the fusion uses them and stores them with each
        assessment: lists become tuples, a table's overrides the whole table."""
        return EvidenceOptions(**{field: getattr(self, setting) for setting, field in EVIDENCE_SETTINGS.items()})

    @property
    def audio_limits(self) -> AudioLimits:
        """What a recording's header may declare, for uploads, device captures and the CLI alike."""
        return AudioLimits(min_sample_rate=self.audio_min_sample_rate, max_sample_rate=self.audio_max_sample_rate,
                           max_duration_s=self.audio_max_duration_s, max_channels=self.audio_max_channels,
                           max_decoded_samples=self.audio_max_decoded_samples)


def is_loopback(host: Optional[str]) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback IP address."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(*, data_dir: Path | str | None = None, **overrides: Any) -> Settings:
    """Build validated settings from the data folder's config file, the environment and overrides.

    Parameters
    ----------
    data_dir
        Data folder; defaults to ``ILDSCREEN_DATA_DIR`` or ``./data``.
    **overrides
        Values that beat every other source (CLI flags); ``None`` values are ignored.

    Raises
    ------
    ConfigError
        Naming the offending key and why it was refused.
    """
    return load_layered_settings(Settings, data_dir=data_dir, default_data_dir=DEFAULT_DATA_DIR,
                                 env_prefix=ENV_PREFIX, overrides=overrides, config_error=ConfigError,
                                 foreign_env_prefixes=FOREIGN_ENV_PREFIXES)
