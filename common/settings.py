"""Loading a server's settings the one way both servers do: defaults, then ``config.toml`` in
its data folder, then its ``ILDSCREEN_...`` environment variables, then command-line flags.

Unknown keys in the file or the environment are refused, naming the key, so that a typo never
silently falls back to a default. A renamed setting's former key still works, in the file and in the
environment, with a warning naming the current one, so that an admin's config keeps working after an
upgrade; a source that sets both names to different values is refused.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ValidationError as PydanticValidationError

from common.errors import DomainError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_FILE_NAME = "config.toml"
SettingsModel = TypeVar("SettingsModel", bound=BaseModel)

logger = logging.getLogger(__name__)


def read_config_file(path: Path, config_error: type[DomainError]) -> dict[str, Any]:
    """Read ``config.toml``; a missing file is an empty config, a broken one a ``config_error``."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise config_error(f"{path}: not valid TOML ({exc})") from exc


def describe_validation_error(exc: PydanticValidationError, written_as: dict[str, str] | None = None) -> str:
    """One line naming every offending key: ``invalid configuration: key: reason; ...``; ``written_as``:
    a setting given under its former name (current name -> the name given), named as given."""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "settings"
        if key in (written_as or {}):
            key = f"{written_as[key]} (now {key})"
        reason = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{key}: {reason}")
    return "invalid configuration: " + "; ".join(problems)


def load_layered_settings(model: type[SettingsModel], *, data_dir: Path | str | None, default_data_dir: Path,
                          env_prefix: str, overrides: dict[str, Any], config_error: type[DomainError],
                          foreign_env_prefixes: tuple[str, ...] = (),
                          renamed: dict[str, str] | None = None) -> SettingsModel:
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
    renamed
        Former key -> current key of each renamed setting (lower case, as in the file): the former key is
        read as the current one, in the file and as ``<env_prefix><FORMER KEY>``, each with a warning
        naming the current name. Across sources the usual precedence holds (the environment beats the file).

    Raises
    ------
    config_error
        Naming the offending key and why it was refused; also a file, or the environment, that sets a
        setting under both its names to different values.
    """
    renamed = renamed or {}
    resolved_dir = Path(data_dir or os.environ.get(f"{env_prefix}DATA_DIR") or default_data_dir)
    config_path = resolved_dir / CONFIG_FILE_NAME
    file_values, former_in_file = _current_names(read_config_file(config_path, config_error), renamed, config_error,
                                                 where=str(config_path), spell=str)
    env_values = {key[len(env_prefix):].lower(): value for key, value in os.environ.items()
                  if key.startswith(env_prefix) and not key.startswith(foreign_env_prefixes)}
    unknown_env = sorted(set(env_values) - set(model.model_fields) - set(renamed))
    if unknown_env:
        raise config_error(f"invalid configuration: {env_prefix}{unknown_env[0].upper()}: unknown setting")
    env_values, former_in_env = _current_names(env_values, renamed, config_error, where="the environment",
                                               spell=lambda key: f"{env_prefix}{key.upper()}")
    # The environment beats the file: drop file keys that the environment sets. Values given under a former
    # name go in with the file's, under the current name (the model reads only current names from the
    # environment itself).
    values = {key: value for key, value in file_values.items() if key not in env_values}
    values.update({key: value for key, value in env_values.items() if key in renamed.values()})
    values.update({key: value for key, value in overrides.items() if value is not None})
    values["data_dir"] = resolved_dir
    # Errors name a value's key as its source gave it (a file's former name, unless the environment beat it).
    written_as = ({renamed[former]: former for former in former_in_file if renamed[former] not in env_values}
                  | {renamed[former]: f"{env_prefix}{former.upper()}" for former in former_in_env})
    try:
        return model(**values)
    except PydanticValidationError as exc:
        raise config_error(describe_validation_error(exc, written_as)) from exc


def _current_names(values: dict[str, Any], renamed: dict[str, str], config_error: type[DomainError], *,
                   where: str, spell: Callable[[str], str]) -> tuple[dict[str, Any], set[str]]:
    """``values`` of one source (the file or the environment) under current names, and the former names it
    gave, each warned about once (``spell``: how the source spells a key, for the messages).

    Raises
    ------
    config_error
        The source gives a setting under both names, with different values.
    """
    current = {key: value for key, value in values.items() if key not in renamed}
    given = {key for key in values if key in renamed}
    for former in sorted(given):
        name = renamed[former]
        if name in current and current[name] != values[former]:
            raise config_error(f"invalid configuration: {where} sets both {spell(former)} (a former name) and "
                               f"{spell(name)}, to different values: keep {spell(name)} only")
        logger.warning("%s: %s is a former name: it still works, but rename it %s", where, spell(former), spell(name))
        current[name] = values[former]
    return current, given
