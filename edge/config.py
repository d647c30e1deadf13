"""Service configuration: a pydantic settings tree read from the data folder and the environment.

Precedence, highest first: ``ILDSCREEN_*`` environment variables, ``config.toml`` in the data
folder, the defaults below. Unknown keys are rejected so that a typo never silently falls back to
a default.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, ValidationError as PydanticValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from edge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_FILE_NAME = "config.toml"
ENV_PREFIX = "ILDSCREEN_"
# The hospital CT server's own settings; a box running both must not trip the edge's check.
FOREIGN_ENV_PREFIXES = ("ILDSCREEN_IMAGING_",)
DEFAULT_DATA_DIR = Path("data")


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
    triage_intermediate: float = Field(
        0.10,
        gt=0,
        lt=1,
        title="Intermediate tier from",
        description="Fused ILD probability from which PFTs within 3 months are advised (programme setting).",
    )
    triage_high: float = Field(
        0.30,
        gt=0,
        lt=1,
        title="High tier from",
        description="Fused ILD probability from which referral for HRCT plus PFTs is advised (programme setting).",
    )
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
    inference_threads: int = Field(
        1, ge=1, le=16, title="Inference threads", description="CPU threads per model session."
    )
    device_ports: list[str] = Field(
        default_factory=list,
        title="Sensor board ports",
        description="Serial ports of the stethoscope and e-nose boards to register at start, e.g. [\"/dev/ttyACM0\"].",
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
        description="A tablet page left untouched this long locks: the nurse re-enters her password, "
                    "so a shared tablet never shows one nurse's patients to the next.",
    )
    log_level: str = Field(
        "INFO",
        pattern="^(DEBUG|INFO|WARNING|ERROR)$",
        title="Log level",
        description="One of DEBUG, INFO, WARNING, ERROR. Patient identifiers are never logged at any level.",
    )

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

    @model_validator(mode="after")
    def ordered_triage_thresholds(self) -> "Settings":
        if not self.triage_intermediate < self.triage_high:
            raise ValueError(
                f"triage_intermediate ({self.triage_intermediate}) must be below triage_high ({self.triage_high})"
            )
        return self

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


def read_config_file(path: Path) -> dict[str, Any]:
    """Read ``config.toml``; a missing file is an empty config, a broken one is a ``ConfigError``."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


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
    resolved_dir = Path(data_dir or os.environ.get(f"{ENV_PREFIX}DATA_DIR") or DEFAULT_DATA_DIR)
    file_values = read_config_file(resolved_dir / CONFIG_FILE_NAME)
    env_keys = {key[len(ENV_PREFIX):].lower() for key in os.environ
                if key.startswith(ENV_PREFIX) and not key.startswith(FOREIGN_ENV_PREFIXES)}
    unknown_env = sorted(env_keys - set(Settings.model_fields))
    if unknown_env:
        raise ConfigError(f"invalid configuration: {ENV_PREFIX}{unknown_env[0].upper()}: unknown setting")
    # The environment beats the file: drop file keys that the environment sets.
    values = {key: value for key, value in file_values.items() if key not in env_keys}
    values.update({key: value for key, value in overrides.items() if value is not None})
    values["data_dir"] = resolved_dir
    try:
        return Settings(**values)
    except PydanticValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: PydanticValidationError) -> str:
    """One line per offending key: ``key: reason``."""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "settings"
        reason = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{key}: {reason}")
    return "invalid configuration: " + "; ".join(problems)
