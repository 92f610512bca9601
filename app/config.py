"""Settings read from the environment (twelve-factor): where the database and the assets live.

Every knob has a default that works on a fresh clone, so `make run` needs no configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root: templates/, static/, lessons/ and var/ hang off it.
ROOT = Path(__file__).resolve().parent.parent


def default_database_url() -> str:
    """An SQLite file under `var/` at the repository root (the directory is made on first start)."""
    return f"sqlite:///{ROOT / 'var' / 'kube-proxy-lab.sqlite3'}"


def normalize_database_url(url: str) -> str:
    """`postgres://` and `postgresql://` (as hosting platforms and libpq write them) name the
    driver the app ships, psycopg 3; SQLAlchemy would otherwise look for psycopg2, which is not
    installed. A URL that names its driver (`postgresql+...://`) or another database is kept."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


class Settings(BaseSettings):
    """Process-wide configuration; `DATABASE_URL` may point at SQLite or PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str = Field(default_factory=default_database_url)
    root: Path = Field(default=ROOT, validation_alias="KPL_ROOT")
    #: Keys the CSRF tokens; unset, a random one is made once and kept in the database, so
    #: every worker and process on that database agrees (app/store/app_secret.py).
    secret_key: str | None = Field(default=None, validation_alias="KPL_SECRET_KEY")
    #: Proxies whose X-Forwarded-Proto/-For the server believes (uvicorn's
    #: --forwarded-allow-ips, whose FORWARDED_ALLOW_IPS is read too): comma-separated
    #: addresses or networks, "*" for any.
    trusted_proxies: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("KPL_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"),
    )
    # How `kube-proxy-lab serve` writes logs: one JSON object per line, or text for a terminal.
    log_format: Literal["json", "text"] = Field(default="json", validation_alias="KPL_LOG_FORMAT")

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        return normalize_database_url(url)

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def static_dir(self) -> Path:
        return self.root / "static"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
