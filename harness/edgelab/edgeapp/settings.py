"""Settings: typed, validated, read from the environment and a mounted config folder.

A setting ``db_pool_size`` comes from ``$DB_POOL_SIZE`` if set, else from the file
``$CONFIG_DIR/db_pool_size`` (a ConfigMap mounted as a volume; default
``/etc/byteedge/config``). Secrets come from ``$API_KEY`` or ``$SECRETS_DIR/api_key``
(default ``/etc/byteedge/secrets``). Validation reports every problem, each naming the
setting, the bad value and the rule, so one start-up log shows all that is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_CONFIG_DIR = "/etc/byteedge/config"
DEFAULT_SECRETS_DIR = "/etc/byteedge/secrets"
LEVELS = ("debug", "info", "warn", "warning", "error")
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_\-]+")
SECRET_MIN_LENGTH = 16


class Kind(StrEnum):
    TEXT = "text"
    URL = "url"  # http(s)://host[:port][/path]; "" allowed only when the default is ""
    INT = "int"  # whole number >= minimum
    LEVEL = "level"  # a log level
    NAMES = "names"  # comma-separated subset of `choices`
    SECRET = "secret"  # read raw (no stripping) from the secrets folder or env


@dataclass(frozen=True)
class Setting:
    key: str
    kind: Kind = Kind.TEXT
    default: str | None = None  # None: required
    minimum: int = 0
    choices: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        return self.key.upper()


Value = str | int | tuple[str, ...]


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Value]
    origins: Mapping[str, str]  # key -> "env", "file" or "default"
    specs: tuple[Setting, ...] = field(repr=False)
    env: Mapping[str, str] = field(repr=False)
    config_dir: Path
    secrets_dir: Path

    @classmethod
    def load(cls, specs: Iterable[Setting], env: Mapping[str, str]) -> Settings:
        specs = tuple(specs)
        config_dir = Path(env.get("CONFIG_DIR") or DEFAULT_CONFIG_DIR)
        secrets_dir = Path(env.get("SECRETS_DIR") or DEFAULT_SECRETS_DIR)
        values, origins, problems = _read(specs, env, config_dir, secrets_dir, secrets=None)
        if problems:
            raise ConfigError(problems)
        return cls(values, origins, specs, dict(env), config_dir, secrets_dir)

    def reload(self) -> tuple[Settings, list[str]]:
        """Re-read the config folder (env and secrets are fixed at start); return the new settings and changed keys."""
        kept = {s.key: self.values[s.key] for s in self.specs if s.kind is Kind.SECRET}
        values, origins, problems = _read(self.specs, self.env, self.config_dir, self.secrets_dir, secrets=kept)
        if problems:
            raise ConfigError(problems)
        changed = [k for k in values if values[k] != self.values.get(k)]
        return Settings(values, origins, self.specs, self.env, self.config_dir, self.secrets_dir), changed

    def int(self, key: str) -> int:
        value = self.values[key]
        assert isinstance(value, int)
        return value

    def text(self, key: str) -> str:
        value = self.values[key]
        assert isinstance(value, str)
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self.values[key]
        assert isinstance(value, tuple)
        return value

    def describe(self) -> str:
        """`key=value` for every setting, secrets masked: the line a service logs at start."""
        parts = []
        for spec in self.specs:
            value = self.values[spec.key]
            if spec.kind is Kind.SECRET:
                shown = mask(str(value))
            elif isinstance(value, tuple):
                shown = ",".join(value)
            else:
                shown = str(value)
            parts.append(f"{spec.key}={shown}")
        return " ".join(parts)


def mask(secret: str) -> str:
    return f"****{secret[-4:]}" if len(secret) >= 8 else "****"


def _read(
    specs: tuple[Setting, ...],
    env: Mapping[str, str],
    config_dir: Path,
    secrets_dir: Path,
    secrets: Mapping[str, Value] | None,
) -> tuple[dict[str, Value], dict[str, str], list[str]]:
    values: dict[str, Value] = {}
    origins: dict[str, str] = {}
    problems: list[str] = []
    for spec in specs:
        if spec.kind is Kind.SECRET and secrets is not None:
            values[spec.key], origins[spec.key] = secrets[spec.key], "secret"
            continue
        folder = secrets_dir if spec.kind is Kind.SECRET else config_dir
        raw, origin = _lookup(spec, env, folder)
        if raw is None:
            if spec.default is None:
                what = "secret" if spec.kind is Kind.SECRET else "setting"
                problems.append(f"required {what} {spec.key!r} missing (no file {folder / spec.key}, no ${spec.env})")
                continue
            raw, origin = spec.default, "default"
        try:
            values[spec.key] = _parse(spec, raw)
        except ValueError as err:
            problems.append(str(err))
            continue
        origins[spec.key] = origin
    return values, origins, problems


def _lookup(spec: Setting, env: Mapping[str, str], folder: Path) -> tuple[str | None, str]:
    if spec.env in env:
        return env[spec.env], "env"
    try:
        text = (folder / spec.key).read_text()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None, ""
    except OSError as err:
        return f"<unreadable: {err.strerror}>", "file"
    return text, "file"


def _parse(spec: Setting, raw: str) -> Value:
    key = spec.key
    if spec.kind is Kind.SECRET:
        if not raw:
            raise ValueError(f"secret {key!r} is empty")
        if any(c.isspace() for c in raw):
            raise ValueError(f"secret {key!r} is malformed: it contains whitespace or a line break")
        if not _SECRET_SHAPE.fullmatch(raw) or len(raw) < SECRET_MIN_LENGTH:
            raise ValueError(
                f"secret {key!r} is malformed: expected {SECRET_MIN_LENGTH}+ letters, digits, '_' or '-', "
                f"got {len(raw)} characters ({mask(raw)})"
            )
        return raw
    text = raw.strip()
    if spec.kind is Kind.INT:
        try:
            number = int(text)
        except ValueError:
            number = None
        if number is None or number < spec.minimum:
            raise ValueError(f"setting {key!r} must be a whole number >= {spec.minimum}, got {text!r}") from None
        return number
    if spec.kind is Kind.LEVEL:
        if text.lower() not in LEVELS:
            raise ValueError(f"setting {key!r} must be one of {', '.join(LEVELS)}, got {text!r}")
        return text.lower()
    if spec.kind is Kind.NAMES:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        unknown = [n for n in names if n not in spec.choices]
        if unknown:
            allowed = ", ".join(spec.choices) or "nothing"
            raise ValueError(f"setting {key!r} names {', '.join(unknown)}; allowed: {allowed}")
        return names
    if spec.kind is Kind.URL:
        if not text and spec.default == "":
            return ""
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"setting {key!r} must be an http:// or https:// URL, got {text!r}")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError(f"setting {key!r} has a bad port: {text!r}") from None
        return text.rstrip("/")
    if not text and spec.default is None:
        raise ValueError(f"required setting {key!r} is empty")
    return text


def config_dir_listing(settings: Settings) -> list[str]:
    """Names in the config folder (hidden ConfigMap bookkeeping entries left out)."""
    try:
        return sorted(n for n in os.listdir(settings.config_dir) if not n.startswith("."))
    except OSError:
        return []
