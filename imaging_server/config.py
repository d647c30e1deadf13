"""Settings of the hospital CT service: a pydantic settings tree from its data folder and environment.

Precedence, highest first: command-line flags, ``ILDSCREEN_IMAGING_*`` environment variables,
``config.toml`` in the service's data folder, the defaults below. Unknown keys are refused so
that a typo never silently falls back to a default; a renamed setting's former key
(``RENAMED_SETTINGS``) still works, with a warning.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from common.settings import load_layered_settings
from imaging_server.errors import ConfigError
from imaging_server.store import checked_url, sqlite_url

ENV_PREFIX = "ILDSCREEN_IMAGING_"
DEFAULT_DATA_DIR = Path("imaging-data")
# Days a sign-in attempt is kept (the setting's default; sign_in's when called without one).
SIGN_IN_AUDIT_RETENTION_DAYS = 365
# Settings renamed, former key -> current key: an admin's config.toml or environment with a former name keeps
# working, with a warning at start (common.settings.load_layered_settings). The programme_sign_in_* settings
# came to govern the reader pages' sign-in too (brief h111).
RENAMED_SETTINGS = {
    "programme_sign_in_lockout_threshold": "sign_in_lockout_threshold",
    "programme_sign_in_lockout_minutes": "sign_in_lockout_minutes",
    "programme_sign_in_audit_retention_days": "sign_in_audit_retention_days",
}


class ImagingSettings(BaseSettings):
    """Settings of one CT quantification service."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", title="ildscreen CT server settings",
                                      validate_default=True)

    data_dir: Path = Field(DEFAULT_DATA_DIR, title="Data folder",
                           description="Holds config.toml, and imaging.db (referrals, clinics, reports) unless a "
                                       "database URL is set.")
    database_url: Optional[SecretStr] = Field(
        None, title="Database URL",
        description="sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE (psycopg 3); unset: SQLite "
                    "imaging.db in the data folder. Secret: messages and logs show it without its password.")
    pool_size: int = Field(8, ge=1, le=100, title="Database pool size",
                           description="Connections each process keeps open to the database (as many again may "
                                       "open under load).")
    host: str = Field("127.0.0.1", title="Listen address",
                      description="Interface to bind. Keep loopback unless a TLS-terminating proxy sits in front.")
    port: int = Field(8090, ge=1, le=65535, title="Listen port", description="TCP port of the referral API.")
    threads: int = Field(4, ge=1, le=64, title="Worker threads", description="Request-handling threads.")
    trusted_proxy: Optional[str] = Field(
        None, title="Trusted TLS proxy",
        description="Address of the TLS-terminating proxy (e.g. 127.0.0.1 for the shipped nginx) whose "
                    "X-Forwarded-Proto is believed: requests it marks https set Secure cookies. Unset: no "
                    "forwarded header is believed.")
    secure_cookies: bool = Field(
        False, title="Secure cookies",
        description="Always mark cookies (the programme view's and the reader pages' sign-ins) Secure, whatever "
                    "the request's scheme.")
    orthanc_url: str = Field("http://127.0.0.1:8042", pattern=r"^https?://", title="PACS URL",
                             description="Base URL of the Orthanc (or other PACS) HTTP server.")
    dicomweb_root: str = Field("/dicom-web", title="DICOMweb root",
                               description="Path of the DICOMweb API below the PACS URL.")
    orthanc_username: Optional[str] = Field(None, title="PACS user",
                                            description="HTTP basic-auth user for the PACS; none when unset.")
    orthanc_password: Optional[SecretStr] = Field(None, title="PACS password",
                                                  description="HTTP basic-auth password for the PACS.")
    pacs_timeout_s: float = Field(60.0, gt=0, le=3600, title="PACS timeout (s)",
                                  description="Timeout of each DICOMweb request.")
    poll_interval_s: float = Field(30.0, gt=0, le=86400, title="Poll interval (s)",
                                   description="How often the watcher looks for studies of waiting referrals.")
    series_stable_s: float = Field(
        30.0, ge=0, le=86400, title="Series settle time (s)",
        description="A series is quantified only once its image count has not changed for this long "
                    "(0: at first sight), so that a series still arriving is not measured half-done.")
    onnx_model_path: Optional[Path] = Field(None, title="ONNX lung model",
                                            description="An ONNX lung segmentation model that replaces the classical "
                                                        "mask; unset: the classical mask.")
    finding_models_dir: Optional[Path] = Field(
        None, title="Finding models folder",
        description="Folder of ONNX models replacing classical finding methods: nodule.onnx, consolidation.onnx, "
                    "ild.onnx, vertebra.onnx (each optional); unset: all classical.")
    nodule_guideline_context: str = Field(
        "incidental", pattern="^(incidental|screening)$", title="Nodule guideline context",
        description="incidental: Fleischner 2017 governs nodule management (diagnostic HRCT); screening: Lung-RADS "
                    "v2022 (a lung cancer screening programme). Both are reported either way.")
    consolidation_report_ml: float = Field(
        5.0, gt=0, le=5000, title="Consolidation reporting threshold (ml)",
        description="Total consolidation volume from which the report has an 'incidental consolidation' line "
                    "(programme assumption; no published threshold).")
    progression_threshold_points: float = Field(
        5.0, gt=0, le=100, title="ILD progression threshold (percentage points)",
        description="Rise of the ILD extent index against the patient's prior CT stated as progression "
                    "(programme assumption; no validated threshold).")
    diffuse_pattern_zone_percent: float = Field(
        15.0, gt=0, le=100, title="Diffuse-pattern zone threshold (%)",
        description="A ground-glass or part-solid lesion in a lung zone whose ILD extent index is at least this is "
                    "reported as a focus of that diffuse pattern, not as a nodule (programme assumption: the index "
                    "reads 6-8% in normal-looking lung on the LIDC-IDRI slabs; no published threshold).")
    nodule_match_distance_mm: float = Field(
        10.0, gt=0, le=100, title="Nodule follow-up: matching distance (mm)",
        description="A lesion of the patient's prior CT is the same lesion (for growth, stable or new) when its centre "
                    "lies within this distance of this scan's (programme assumption: Fleischner 2017 and Lung-RADS "
                    "v2022 give no distance; the scans are not registered).")
    consolidation_lesion_share: float = Field(
        0.5, gt=0, le=1, title="Consolidation: share that names a large lesion",
        description="A lesion as large as a 30 mm sphere (and 30 mm or more across) is listed as consolidation, not as "
                    "a mass, when at least this share of its sphere lies in the measured consolidation; otherwise it "
                    "is a mass and leaves the consolidation volume, so each region is listed once (programme "
                    "assumption; no published rule).")
    mass_max_slice_mm: float = Field(
        5.0, ge=3, le=10, title="Masses on thick slices: thickest slice (mm)",
        description="Nodules are not assessed on slices thicker than 3 mm (Fleischner 2017 asks for <= 1.5 mm "
                    "sections); up to this slice thickness lesions of 30 mm or more are still reported, each with the "
                    "caveat that size and type are approximate and thin-section CT is recommended; beyond it, none. "
                    "3 turns it off (programme assumption: at 5 mm a 30 mm lesion still spans six sections).")
    lung_air_threshold_hu: float = Field(
        -400.0, ge=-900, le=-100, title="Lung mask: air threshold (HU)",
        description="Voxels below this seed the classical lung mask: between aerated lung (about -850 HU) and soft "
                    "tissue; a sharp reconstruction kernel or a noisy low-dose scan may need it moved (programme "
                    "assumption, checked on the LIDC-IDRI slabs and the phantoms; Hu et al. 2001 choose it per scan).")
    lung_closing_radius_mm: float = Field(
        5.0, gt=0, le=15, title="Lung mask: closing radius (mm)",
        description="Per-slice closing disk that brings vessels and dense patches back into the lung mask (programme "
                    "assumption; a larger disk also bridges notches of the pleura and costs more time).")
    lung_trachea_max_area_mm2: float = Field(
        1000.0, ge=100, le=5000, title="Lung mask: largest tracheal section (mm2)",
        description="The trachea, followed down and left out of the lung mask, is the cranial midline air region of at "
                    "most this section: well above an adult's (normal diameters up to 25-27 mm, Breatnach E et al. "
                    "AJR 1984;142:903-906), below a lung apex's (programme assumption).")
    lung_second_lung_min_ratio: float = Field(
        0.2, gt=0, le=1, title="Lung mask: second lung, smallest share of the first",
        description="The second largest air component is kept as the other lung when it holds at least this share of "
                    "the largest: a lung after lobectomy or with a large collapse stays above, bowel gas and stray air "
                    "are smaller; lower it where a lung is often mostly collapsed, its aerated part then small "
                    "(programme assumption).")
    pleural_dent_mediastinal_share: float = Field(
        0.25, ge=0, le=1, title="Lung mask: dent share between the lungs that makes it mediastinum",
        description="A dent of a lung's per-slice convex hull with more than this share of its pixels between the two "
                    "lungs on their image rows is mediastinum and is not added to the lung mask (programme "
                    "assumption, checked on the LIDC-IDRI slabs and the phantoms).")
    pleural_dent_area_limit: float = Field(
        0.75, gt=0, le=10, title="Lung mask: largest dent, times the lung's section",
        description="A hull dent larger than this times the lung's own area on that slice (the liver or spleen under "
                    "basal lung) is not added to the lung mask (programme assumption, checked on the LIDC-IDRI slabs "
                    "and the phantoms).")
    pleural_dent_base_area_share: float = Field(
        0.3, ge=0, le=1, title="Lung mask: lung-base section share",
        description="The mask's caudal slice is a lung base when its section is under this share of the largest; hull "
                    "dents reaching a base are the diaphragm dome and are not added (programme assumption; a slab "
                    "cut through the lungs ends on a near-full section).")
    ground_glass_window_mm: float = Field(
        4.0, gt=0, le=20, title="Ground-glass averaging window (mm)",
        description="Ground-glass nodule candidates are found on the lung's attenuation averaged over a window this "
                    "wide (programme assumption, checked on the LIDC-IDRI-0002 ground-glass nodule and the phantoms).")
    ground_glass_mean_hu: float = Field(
        -650.0, gt=-725, lt=-300, title="Ground-glass mean attenuation (HU)",
        description="Averaged lung attenuation above which (up to -300 HU) a region is a ground-glass candidate: "
                    "halfway between aerated lung (about -850 HU) and ground glass (about -550 to -450 HU) "
                    "(programme assumption).")
    ground_glass_max_elongation: float = Field(
        4.0, ge=1, le=10, title="Ground-glass candidate: largest elongation",
        description="Longest over shortest principal axis a ground-glass candidate may have; a lesion against the "
                    "pleura is flattened, so more than a solid nodule's 2 (programme assumption).")
    ground_glass_min_fill: float = Field(
        0.5, gt=0, le=1, title="Ground-glass candidate: smallest ellipsoid fill",
        description="Share of its principal-axis ellipsoid a ground-glass candidate must fill (a compact blob; "
                    "programme assumption).")
    programme_min_outcomes: int = Field(
        50, ge=1, le=100000, title="Programme: outcomes before a calibration flag",
        description="Confirmed outcomes a clinic needs before its calibration can be flagged (programme assumption; "
                    "Van Calster et al. 2016 ask for far more for a calibration curve).")
    programme_ece_flag: float = Field(
        0.05, gt=0, le=1, title="Programme: ECE flag",
        description="Expected calibration error above which a clinic is flagged (programme assumption).")
    programme_citl_flag: float = Field(
        0.05, gt=0, le=1, title="Programme: calibration-in-the-large flag",
        description="|Mean observed - mean predicted risk| above which a clinic is flagged (programme assumption).")
    programme_refusal_flag: float = Field(
        0.2, gt=0, le=1, title="Programme: quality-gate refusal flag",
        description="Share of a device's readings refused by the quality gate above which the clinic is flagged "
                    "(programme assumption).")
    programme_missing_flag: float = Field(
        0.3, gt=0, le=1, title="Programme: missing-modality flag",
        description="Share of visits without a modality above which the clinic is flagged (programme assumption).")
    programme_quality_rise: float = Field(
        0.1, gt=0, le=1, title="Programme: data-quality worsening flag",
        description="Rise of a refusal or missing-modality share since the clinic's previous month that is flagged "
                    "(programme assumption).")
    programme_overdue_days: float = Field(
        3.0, gt=0, le=366, title="Programme: days before a clinic is overdue",
        description="A clinic whose last figures are older than this is flagged (programme assumption; clinics "
                    "send daily by default).")
    sign_in_lockout_threshold: int = Field(
        5, ge=1, le=100, title="Sign-in: wrong passwords before lockout",
        description="Consecutive wrong passwords for one sign-in name after which that name is refused (HTTP 429) "
                    "for sign_in_lockout_minutes, at both doors where people sign in: the programme view "
                    "(/programme) and the reader pages (/reader), each counting its own names; as the clinic's "
                    "lockout_threshold. Formerly programme_sign_in_lockout_threshold (still read, with a warning).")
    sign_in_lockout_minutes: float = Field(
        15.0, gt=0, le=24 * 60, title="Sign-in: lockout (minutes)",
        description="How long a locked sign-in name stays locked, at both doors; as the clinic's lockout_minutes. "
                    "Also how long a name's count of wrong passwords lasts without a new one: then it lapses and "
                    "its row is swept. Formerly programme_sign_in_lockout_minutes (still read, with a warning).")
    sign_in_audit_retention_days: int = Field(
        SIGN_IN_AUDIT_RETENTION_DAYS, ge=1, le=3650, title="Sign-in audit: days kept",
        description="Each programme-view and reader-page sign-in attempt (name, time, outcome, client address: "
                    "personal data) is "
                    "deleted this many days after it, at the server's start, at each later sign-in attempt and "
                    "hourly in serve's PACS watcher (under serve --no-watch, cron `ildscreen imaging-server "
                    "forget-sign-ins`); ended sessions go then too. Default one year (programme assumption): longer than the six "
                    "months for which China's Cybersecurity Law (2016, art. 21) asks network logs to be kept, "
                    "and a full year of audits to look back on; personal data may be kept no longer than its "
                    "purpose needs (PIPL art. 19; GDPR art. 5(1)(e)), so set the hospital's own period. Formerly "
                    "programme_sign_in_audit_retention_days (still read, with a warning).")
    programme_timezone: str = Field(
        "Asia/Shanghai", min_length=1, max_length=64, title="Programme view: time zone",
        description="IANA time zone in which the programme view shows times (the programme's region).")
    programme_federation_dir: Optional[Path] = Field(
        None, title="Programme view: federation results",
        description="Folder where the federation's ServerApp writes its result files (flwr run --run-config "
                    "result-path=...); the programme view shows the newest. Unset: no federated section.")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", title="Log level",
                           description="DEBUG, INFO, WARNING or ERROR. Patient data is never logged.")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @field_validator("programme_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        if value is not None:
            try:
                checked_url(value.get_secret_value())
            except ConfigError as exc:
                raise ValueError(exc.message) from None
        return value

    @property
    def database_path(self) -> Path:
        """The default SQLite file, used when no database URL is set."""
        return self.data_dir / "imaging.db"

    @property
    def database_target(self) -> str:
        """The URL of the database this service uses (holds the password: never log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return sqlite_url(self.database_path)

    @property
    def dicomweb_url(self) -> str:
        return self.orthanc_url.rstrip("/") + "/" + self.dicomweb_root.strip("/")


def load_settings(*, data_dir: Path | str | None = None, **overrides: Any) -> ImagingSettings:
    """Build validated settings from ``config.toml`` in the data folder, the environment and overrides.

    Raises
    ------
    ConfigError
        Naming the offending key and why it was refused.
    """
    return load_layered_settings(ImagingSettings, data_dir=data_dir, default_data_dir=DEFAULT_DATA_DIR,
                                 env_prefix=ENV_PREFIX, overrides=overrides, config_error=ConfigError,
                                 renamed=RENAMED_SETTINGS)
