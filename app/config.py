"""Settings read from the environment (twelve-factor): where the database and the assets live.

Every knob has a default that works on a fresh clone, so `make run` needs no configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root: templates/, static/, lessons/ and var/ hang off it.
ROOT = Path(__file__).resolve().parent.parent


def default_database_url() -> str:
    """An SQLite file under `var/` at the repository root (the directory is made on first start)."""
    return f"sqlite:///{ROOT / 'var' / 'kube-proxy-lab.sqlite3'}"


class Settings(BaseSettings):
    """Process-wide configuration; `DATABASE_URL` may point at SQLite or PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str = Field(default_factory=default_database_url)
    root: Path = Field(default=ROOT, validation_alias="KPL_ROOT")

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
