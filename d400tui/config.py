"""Settings from `D400_*` environment variables, then a TOML file, then defaults.

The TOML file is `$D400_CONFIG` or `d400.toml` in the user's config directory. Secrets are
SecretStr: never printed, logged or shown as a `--help` default."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from platformdirs import user_config_dir, user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP = "d400tui"


def default_data_dir() -> Path:
    return Path(os.environ.get("D400_HOME") or user_data_dir(APP, appauthor=False))


def config_file() -> Path:
    return Path(os.environ.get("D400_CONFIG") or Path(user_config_dir(APP, appauthor=False)) / "d400.toml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="D400_", extra="ignore")

    db_url: str | None = None
    """SQLAlchemy URL; default: a SQLite file in the user's data directory, created on first use."""

    @field_validator("db_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        """SQLite or PostgreSQL only: another scheme is said here, not as a driver's import error."""
        if url and not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("sqlite:///PATH or postgresql://USER:PW@HOST/DB expected")
        return url

    db_idle_transaction_timeout_s: float = Field(60.0, ge=0, le=3600)
    """PostgreSQL ends a session left idle inside a transaction this long (a worker frozen by a
    stopped VM or a lost network while it held claim locks): its locks go, its lease is taken over,
    instead of every other worker and terminal waiting on it. No transaction of ours waits on
    anything but the database, so a live one never comes near it. 0: not sent, the server's own
    setting holds (a pooler such as PgBouncer refuses this startup option unless told to ignore it)."""

    lang: Literal["fr", "en"] = "fr"
    """Language of every operator-facing string."""

    acquirer: Literal["simulator", "http", "stripe", "iso8583"] = "simulator"
    """Which payment provider adapter to use."""
    acquirer_timeout: float = Field(10.0, gt=0, le=120)
    """Seconds to wait for an acquirer answer before the authorization is UNKNOWN."""
    acquirer_connect_timeout: float = Field(3.0, gt=0, le=60)
    acquirer_url: str = "http://127.0.0.1:8410"
    acquirer_host: str = "127.0.0.1"
    acquirer_port: int = 8583
    acquirer_key: SecretStr = SecretStr("")
    acquirer_brands: list[str] | None = None
    """Brands the contract takes; default: what the adapter declares."""
    breaker_failures: int = Field(5, ge=1)
    """Consecutive transport failures that open the circuit breaker."""
    breaker_reset_s: float = Field(15.0, gt=0)
    # -- network branch (issue 13.5): a second acquirer for when the first is definitely down --
    secondary_acquirer: Literal["simulator", "http", "stripe", "iso8583"] | None = None
    """A second acquirer an authorization may be sent to when the first is definitely unavailable
    (connection refused, circuit open, an answered 91/96), never after a time-out; none: no failover."""
    secondary_url: str = "http://127.0.0.1:8411"
    """Base URL of the secondary http acquirer (stripe: its API URL, default api.stripe.com)."""
    secondary_host: str = "127.0.0.1"
    """Host of the secondary ISO 8583 acquirer."""
    secondary_port: int = 8584
    """TCP port of the secondary ISO 8583 acquirer."""
    secondary_key: SecretStr = SecretStr("")
    """API key of the secondary acquirer (Stripe secret key); never logged."""
    secondary_brands: list[str] | None = None
    """Brands (networks) the secondary's contract takes; default: what its adapter declares."""
    secondary_simulator_db: Path | None = None
    """State file of a simulated secondary issuer; default: simulator-2.db next to the first one's."""
    failover_precheck: bool = False
    """The pre-check sends to the secondary on its own what the first acquirer definitely did not
    take (not sent, or an answered 91/96) — only a card whose token the secondary can use: see
    `secondary_shares_tokens`."""
    secondary_shares_tokens: bool = False
    """The secondary takes the first acquirer's card tokens (one processor behind two front ends, or
    a shared token vault). Without it a stored token goes only to the acquirer that issued it: the
    pre-check cannot fail over a card as stored, and the operator's S types the card again."""
    batch_nice: int = Field(10, ge=0, le=19)
    """CPU priority (POSIX nice) the pre-check and capture runs and their workers lower themselves
    to, as an IBM i batch job runs below the interactive jobs: the terminals validating orders on
    the same machine keep the processor first. 0 keeps the priority it was started with."""
    validity_days: dict[str, int] = {"CB": 7, "VISA": 7, "MASTERCARD": 7, "MAESTRO": 30, "AMEX": 7}
    """Days the simulated issuer (and the Stripe adapter's own check) keeps a hold capturable, per
    brand. The engine's windows come from the validity model (data/validity.csv, validity_windows)."""
    validity_windows: dict[str, dict[str, str]] = {}
    """Overrides of the validity model (data/validity.csv), per acquirer (`*`: every one):
    {"stripe": {"VISA:MIT:FINAL": "4d18h"}}; the key is BRAND:INITIATOR:TYPE (CIT or MIT, FINAL or
    PRE), any part may be `*`; the window is days and hours (7d, 4d18h, 36h), 1h to 31d."""

    @field_validator("validity_windows")
    @classmethod
    def _readable_windows(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        """Every override parses now: a typo is said at start-up, not at the first authorization."""
        from d400tui.domain.validity import ValidityError, overrides

        try:
            overrides(value)
        except ValidityError as exc:
            raise ValueError(str(exc)) from None
        return value

    preauthorization_brands: list[str] = []
    """Brands whose orders of several lines are authorized as pre-authorizations (Mastercard: valid
    up to 30 days for an order shipped in several parcels). Only for an acquirer contract that
    flags them as such; empty by default."""
    void_retry_after: list[str] = ["5m", "1h", "1d"]
    """Backoff of the scheduled void retries (`d400 voids retry`): the wait after the 1st, 2nd …
    failed try (5m, 1h, 1d); the last one repeats."""

    @field_validator("void_retry_after")
    @classmethod
    def _readable_backoff(cls, value: list[str]) -> list[str]:
        from d400tui.domain.validity import ValidityError, parse_duration

        if not value:
            raise ValueError('at least one wait expected, as ["5m", "1h", "1d"]')
        try:
            for w in value:
                if not parse_duration(w):
                    raise ValidityError(f"{w!r}: a wait above zero expected")
        except ValidityError as exc:
            raise ValueError(str(exc)) from None
        return value

    simulator_db: Path | None = None
    """The simulated issuer's own state file (holds, captures); default next to the database."""
    simulator_cards: Path | None = None
    """The simulated issuer's card file; default: the shipped data/test_cards.csv."""
    simulator_latency_ms: float = Field(0.0, ge=0)
    simulator_fault_rate: float = Field(0.0, ge=0, le=1)
    iso8583_idle_timeout_s: float = Field(300.0, gt=0)
    """The ISO 8583 host (`d400 acquirer serve --protocol iso8583`) closes a connection silent this long."""
    iso8583_max_connections: int = Field(256, ge=1)
    """Connections the ISO 8583 host keeps open at once; one more is closed on arrival."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the JSON log file `d400.log` in the data directory (card numbers always masked)."""

    operator: str | None = None
    """CLI identity (with D400_PASSWORD); the TUI signs on instead."""
    password: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return init_settings, env_settings, toml

    @property
    def data_dir(self) -> Path:
        return default_data_dir()

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'd400.db'}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "d400.log"

    @property
    def simulator_path(self) -> Path:
        if self.simulator_db:
            return self.simulator_db
        url = self.database_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            return Path(url.removeprefix("sqlite:///")).with_name("simulator.db")
        return self.data_dir / "simulator.db"


class SettingsProblem(Exception):
    """A bad `D400_*` variable or configuration file, said in one line that names it."""


_FIELD = re.compile(r'field "(\w+)"')


def _where(field: str) -> str:
    """The variable's name; the file's as well when a TOML file is in use."""
    var = f"D400_{field.upper()}"
    return var if var in os.environ or not config_file().is_file() else f"{var} (or {field} in {config_file().name})"


def load_settings() -> Settings:
    """Settings, or one line naming the variable and what it expects (never pydantic's dump,
    never the value itself: it may be a secret)."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False, include_input=False)[:3]:
            field = str(e["loc"][0]) if e["loc"] else "?"
            problems.append(f"{_where(field)}: {e['msg'].removeprefix('Value error, ')}")
        raise SettingsProblem("setting " + "; ".join(problems)) from None
    except SettingsError as exc:
        found = _FIELD.search(str(exc))
        field = found.group(1) if found else "?"
        raise SettingsProblem(f'setting {_where(field)}: a JSON value expected (for example ["CB", "VISA"])') from None
    except ValueError:  # tomllib.TOMLDecodeError
        raise SettingsProblem(f"configuration file {config_file()}: not valid TOML") from None
    except OSError:
        raise SettingsProblem(f"configuration file {config_file()}: cannot be read") from None
