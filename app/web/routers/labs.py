"""The lab's JSON API under `/api/labs` (CONTRACTS.md, "HTTP API"), documented at `/docs`.

A lab is private: the bearer token returned at creation or the creator's session cookie opens
it; anyone else gets 404. A bad command is not an HTTP error: it answers 200 with `ok: false`
and the tool's own error text, as a terminal would show it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.sim.lab import LabError
from app.web.deps import EngineDep, LangDep, TranslatorDep
from app.web.labs import repo, service
from app.web.labs.identity import caller, remember

router = APIRouter(prefix="/api/labs", tags=["labs"])


def _scalar_text(value: object) -> object:
    """Lone surrogates (valid in JSON, not in UTF-8) become U+FFFD: the lab's answer echoes
    the input, and an answer must be encodable."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


Clean = BeforeValidator(_scalar_text)

NOT_FOUND = {404: {"description": "No such lab, or not yours"}}
# FastAPI's answer to a body it cannot even decode (bytes that are not UTF-8 text).
UNREADABLE = {400: {"description": "A body that is not JSON text"}}
LIMITS = {
    **UNREADABLE,
    409: {"description": "The lab changed elsewhere since it was read: reload"},
    422: {"description": "An input over a limit, or malformed"},
    429: {"description": "Too many commands this minute (see Retry-After)"},
}


def _link(path: str, description: str) -> dict[str, Any]:
    ref = "#/paths/" + path.replace("/", "~1") + ("/get" if path.endswith("}") else "/post")
    return {
        "operationRef": ref,
        "parameters": {"lab_id": "$response.body#/id"},
        "description": description,
    }


# OpenAPI links: the new lab's id is what the lab's own operations take (clients and API
# fuzzers follow them from creation to use).
CREATED_LINKS = {
    "GetLab": _link("/api/labs/{lab_id}", "Read the new lab"),
    "RunCommand": _link("/api/labs/{lab_id}/commands", "Run a console line in it"),
    "SendRequest": _link("/api/labs/{lab_id}/requests", "Send packets through it"),
}


class LabCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: Annotated[str, Clean] = Field("seed", max_length=64, examples=["seed"])
    mode: Annotated[str, Clean] = Field("iptables", max_length=32, examples=["iptables"])


class LabCreated(BaseModel):
    id: str
    token: str = Field(description="Send as `Authorization: Bearer <token>`; shown only once")


class CommandIn(BaseModel):
    command: Annotated[str, Clean] = Field(
        max_length=service.PASTE_LIMIT,
        description="One console line (at most 4 KiB) or a multi-line paste (256 KiB)",
        examples=["kubectl scale deployment/my-first-deploy --replicas=3"],
    )


class CommandOut(BaseModel):
    ok: bool
    output: str
    error: str | None = Field(None, description="The tool's own error text when ok is false")
    sync: Any = Field(None, description="What kube-proxy rewrote after the command, if anything")
    traces: list[dict[str, Any]] | None = Field(None, description="The trace of a `curl`")


class RequestIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    source: Annotated[str, Clean] = Field(
        "external", alias="from", max_length=256, examples=["pod/client"]
    )
    to: Annotated[str, Clean] = Field(
        max_length=256, examples=["10.97.139.74:8080", "svc/my-first-deploy:8080"]
    )
    proto: str = Field("tcp", pattern="^(tcp|udp)$")
    count: int = Field(1, ge=1, le=service.COUNT_LIMIT)
    node: Annotated[str, Clean] | None = Field(
        None, max_length=64, description="Trace through this node (e.g. an imported one)"
    )


class RequestOut(BaseModel):
    traces: list[dict[str, Any]]
    endpoints: dict[str, int]


def _fail(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


def _open(request: Request, engine: EngineDep, lab_id: str, t: TranslatorDep) -> service.Opened:
    try:
        return service.open_lab(engine, lab_id, caller(request))
    except service.NotFound:
        raise _fail(404, t("lab.error.not_found")) from None
    except service.Unreadable:
        raise _fail(409, t("lab.error.unreadable")) from None


def _guarded(t: TranslatorDep, run: Any) -> Any:
    """Run an action, turning limits, conflicts and lab errors into clear HTTP answers."""
    try:
        return run()
    except service.LimitError as error:
        raise _fail(422, t(error.key, **{k: str(v) for k, v in error.values.items()})) from None
    except service.RateLimited as error:
        message = t("lab.limit.rate", limit=str(service.COMMANDS_PER_MINUTE))
        raise _fail(429, message, {"Retry-After": str(error.retry_after)}) from None
    except repo.Conflict:
        raise _fail(409, t("lab.error.conflict")) from None
    except LabError as error:
        raise _fail(422, error.text(t.lang)) from None


@router.post(
    "",
    status_code=201,
    response_model=LabCreated,
    responses={201: {"links": CREATED_LINKS}, **UNREADABLE, 422: LIMITS[422]},
)
def create_lab(
    request: Request,
    response: Response,
    engine: EngineDep,
    t: TranslatorDep,
    body: Annotated[LabCreate | None, Body()] = None,
) -> LabCreated:
    """Create a lab from a scenario (`seed` by default) in a kube-proxy mode."""
    body = body or LabCreate()
    who = caller(request, create_session=True)
    row, token = _guarded(t, lambda: service.new_lab(engine, body.scenario, body.mode, who))
    remember(response, who)
    return LabCreated(id=row.id, token=token)


@router.get("/{lab_id}", responses=NOT_FOUND)
def get_lab(request: Request, lab_id: str, engine: EngineDep, t: TranslatorDep) -> dict[str, Any]:
    """The lab: nodes, pods, services, endpoints, mode and seed; `version` counts its saves."""
    opened = _open(request, engine, lab_id, t)
    summary = {**opened.lab.summary(), "id": lab_id, "version": opened.row.version}
    service.keep(engine, opened)  # summary() only reads the lab
    return summary


@router.post("/{lab_id}/commands", response_model=CommandOut, responses={**NOT_FOUND, **LIMITS})
def run_command(
    request: Request,
    lab_id: str,
    body: CommandIn,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
) -> CommandOut:
    """Run one console line; a command that fails answers `ok: false` with the tool's text."""
    opened = _open(request, engine, lab_id, t)
    result = _guarded(t, lambda: service.run_line(engine, opened, body.command, lang))
    return CommandOut(
        ok=result.ok,
        output=result.output,
        error=result.error or None,
        sync=result.sync or None,
        traces=result.traces or None,
    )


@router.post("/{lab_id}/requests", response_model=RequestOut, responses={**NOT_FOUND, **LIMITS})
def send_request(
    request: Request, lab_id: str, body: RequestIn, engine: EngineDep, t: TranslatorDep
) -> RequestOut:
    """Send `count` packets from `from` to `to` and trace each through the node's rules."""
    opened = _open(request, engine, lab_id, t)
    answer = _guarded(
        t,
        lambda: service.send(
            engine, opened, body.source, body.to, body.proto, body.count, body.node
        ),
    )
    return RequestOut(traces=answer["traces"], endpoints=answer["endpoints"])
