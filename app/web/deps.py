"""Dependencies shared by the routers, as `Annotated` aliases (`def page(lang: LangDep)`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from app.config import Settings
from app.web.i18n import translate


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def get_lang(request: Request) -> str:
    """The language `PreferencesMiddleware` negotiated for this request."""
    return request.state.lang


class Translator:
    """`t("home.title")` in the request's language, for routers that build text themselves."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **values: str) -> str:
        return translate(self.lang, key, **values)


def get_translator(lang: Annotated[str, Depends(get_lang)]) -> Translator:
    return Translator(lang)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
LangDep = Annotated[str, Depends(get_lang)]
TranslatorDep = Annotated[Translator, Depends(get_translator)]
