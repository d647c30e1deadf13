"""Loading a server's settings the one way both servers do: defaults, then ``config.toml`` in
its data folder, then its ``ILDSCREEN_...`` environment variables, then command-line flags.

Unknown keys in the file or the environment are refused, naming the key, so that a typo never
silently falls back to a default.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError as PydanticValidationError

from common.errors import DomainError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_FILE_NAME = "config.toml"
SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


def read_config_file(path: Path, config_error: type[DomainError]) -> dict[str, Any]:
    """Read ``config.toml``; a missing file is an empty config, a broken one a ``config_error``."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise config_error(f"{path}: not valid TOML ({exc})") from exc


def describe_validation_error(exc: PydanticValidationError) -> str:
    """One line naming every offending key: ``invalid configuration: key: reason; ...``."""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "settings"
        reason = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{key}: {reason}")
    return "invalid configuration: " + "; ".join(problems)


def load_layered_settings(model: type[SettingsModel], *, data_dir: Path | str | None, default_data_dir: Path,
                          env_prefix: str, overrides: dict[str, Any], config_error: type[DomainError],
                          foreign_env_prefixes: tuple[str, ...] = ()) -> SettingsModel:
    """Build ``model`` (a pydantic-settings class reading ``env_prefix`` variables itself) from the
    data folder's config file, the environment and ``overrides``.

    Parameters
    ----------
    data_dir
        Data folder; defaults to ``<env_prefix>DATA_DIR`` or ``default_data_dir``.
    overrides
        Values that beat every other source (CLI flags); ``None`` values are ignored.
    foreign_env_prefixes
        Longer prefixes of another server's variables under ``env_prefix``, not this one's.

    Raises
    ------
    config_error
        Naming the offending key and why it was refused.
    """
    resolved_dir = Path(data_dir or os.environ.get(f"{env_prefix}DATA_DIR") or default_data_dir)
    file_values = read_config_file(resolved_dir / CONFIG_FILE_NAME, config_error)
    env_keys = {key[len(env_prefix):].lower() for key in os.environ
                if key.startswith(env_prefix) and not key.startswith(foreign_env_prefixes)}
    unknown_env = sorted(env_keys - set(model.model_fields))
    if unknown_env:
        raise config_error(f"invalid configuration: {env_prefix}{unknown_env[0].upper()}: unknown setting")
    # The environment beats the file: drop file keys that the environment sets.
    values = {key: value for key, value in file_values.items() if key not in env_keys}
    values.update({key: value for key, value in overrides.items() if value is not None})
    values["data_dir"] = resolved_dir
    try:
        return model(**values)
    except PydanticValidationError as exc:
        raise config_error(describe_validation_error(exc)) from exc
