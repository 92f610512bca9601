"""Run one learner action against a stored lab: load it, act, save it back with its version.

Each action reads the lab's row, takes the `app.sim.lab.Lab` it holds (rebuilt from the
row's data, or taken from this process's cache when the cached copy is at the row's version,
see cache.py), acts, and saves only if the lab changed; a saved lab goes back to the cache.
Limits (line and paste size, request count, commands per minute) are checked here so the JSON API
and the pages refuse the same things with the same words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine

from app.sim.lab import Lab, LabError
from app.store.models import Lab as LabRow
from app.web.labs import cache, repo
from app.web.labs.identity import Caller

LINE_LIMIT = 4096  # bytes in one console line
PASTE_LIMIT = 256 * 1024  # bytes in a multi-line paste (iptables-restore, kubectl apply -f -)
COUNT_LIMIT = 10_000  # packets in one request
COMMANDS_PER_MINUTE = 120

T = TypeVar("T")


class LimitError(Exception):
    """An input over a limit; `key` names the message, `values` fill it in."""

    def __init__(self, key: str, **values: int) -> None:
        super().__init__(key)
        self.key, self.values = key, values


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class NotFound(Exception):
    """No such lab, or not one the caller may open (both answer 404: ids are not secret)."""


@dataclass
class Opened:
    """A lab read from its row: `row.version` is what a save must still find."""

    row: LabRow
    lab: Lab


def new_lab(engine: Engine, scenario: str, mode: str, who: Caller) -> tuple[LabRow, str]:
    """Create a lab (LabError for an unknown scenario or mode); returns the row and token."""
    lab = Lab.new(scenario=scenario, mode=mode, seed=1)
    row, token = repo.create(engine, lab.to_data(), who.session)
    cache.for_engine(engine).give(row.id, row.version, lab)
    return row, token


class Unreadable(Exception):
    """A stored lab this version of the simulation cannot rebuild (saved by an older one)."""


def restore(row: LabRow) -> Opened:
    """Rebuild the lab of `row` (Unreadable when its data no longer fits the model)."""
    try:
        return Opened(row, Lab.from_data(row.data))
    except (LabError, KeyError, IndexError, TypeError, ValueError) as error:
        raise Unreadable(row.id) from error


def open_lab(engine: Engine, lab_id: str, who: Caller) -> Opened:
    """The lab for this request alone (NotFound, Unreadable): the cached copy if it is at the
    row's current version, else rebuilt from the row."""
    labs = cache.for_engine(engine)
    if labs.holds(lab_id):
        row = repo.find(engine, lab_id, who, data=False)
        if row is None:
            raise NotFound(lab_id)
        lab = labs.take(row.id, row.version)
        if lab is not None:
            return Opened(row, lab)
    row = repo.find(engine, lab_id, who)  # with the stored lab, at whatever version is newest
    if row is None:
        raise NotFound(lab_id)
    return restore(row)


def open_latest(engine: Engine, who: Caller) -> Opened | None:
    """The session's most recently used lab (None if it has none; Unreadable), from the cache
    like `open_lab`: the row is read without its data, and with it only when not cached."""
    row = repo.latest_for(engine, who.session, data=False)
    if row is None:
        return None
    lab = cache.for_engine(engine).take(row.id, row.version)
    if lab is not None:
        return Opened(row, lab)
    row = repo.find(engine, row.id, who)
    return restore(row) if row is not None else None


def open_new(engine: Engine, who: Caller) -> Opened:
    """A new seed lab of the session, opened (handed to the cache by `keep` when done)."""
    lab = Lab.new(scenario="seed", mode="iptables", seed=1)
    row, _ = repo.create(engine, lab.to_data(), who.session)
    return Opened(row, lab)


@contextmanager
def reading(engine: Engine, lab_id: str, who: Caller) -> Iterator[Opened]:
    """The lab for a view that only reads it (NotFound, Unreadable as `open_lab`), handed back
    to the cache when the view is done, so the next action need not rebuild it."""
    opened = open_lab(engine, lab_id, who)
    yield opened
    keep(engine, opened)


def keep(engine: Engine, opened: Opened) -> None:
    """Hand the lab back to the cache: call only when it equals its row at `row.version` (just
    saved, or unchanged) and this request will not touch it again."""
    cache.for_engine(engine).give(opened.row.id, opened.row.version, opened.lab)


def check_command(text: str) -> None:
    """Refuse a paste over 256 KiB or any line over 4 KiB (LimitError)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > PASTE_LIMIT:
        raise LimitError("lab.limit.paste", limit=PASTE_LIMIT, size=size)
    longest = max(
        (len(line.encode("utf-8", "surrogatepass")) for line in text.split("\n")), default=0
    )
    if longest > LINE_LIMIT:
        raise LimitError("lab.limit.line", limit=LINE_LIMIT, size=longest)


def check_count(count: int) -> None:
    if not 1 <= count <= COUNT_LIMIT:
        raise LimitError("lab.limit.count", limit=COUNT_LIMIT, size=count)


def check_rate(opened: Opened, now: float | None = None) -> None:
    """Refuse (RateLimited) when the row read for this request has used up the minute's
    budget; the request is then counted by the statement that saves it (`repo.save`)."""
    now = time.time() if now is None else now
    row = opened.row
    if row.rate_minute == int(now // 60) and row.rate_count >= COMMANDS_PER_MINUTE:
        raise RateLimited(60 - int(now % 60))


def rate(engine: Engine, opened: Opened) -> None:
    """Count one action against the lab's per-minute budget (RateLimited past it)."""
    count, retry_after = repo.count_command(engine, opened.row.id)
    if count > COMMANDS_PER_MINUTE:
        raise RateLimited(retry_after)


def act(engine: Engine, opened: Opened, action: Callable[[Lab], T], *, changed: bool) -> T:
    """Run `action` on the lab and save it when `changed` (repo.Conflict if saved elsewhere)."""
    result = action(opened.lab)
    if changed or getattr(result, "changed", False):
        repo.save(engine, opened.row, opened.lab.to_data())
        # The result is plain data built by the action, so the lab may be shared from now on.
        keep(engine, opened)
    return result


def run_line(engine: Engine, opened: Opened, line: str, lang: str) -> Any:
    """One console line (kubectl, iptables, curl, ...): a ConsoleResult. The lab is saved
    whenever the line was run, read-only ones too: the console history is what the learner
    typed (`history`, and ↑ on /lab, recall it), kept here as the pages keep it. That save
    also counts the line against the minute's budget (one statement); a line refused before
    it ran is counted on its own."""
    check_command(line)
    check_rate(opened)
    typed = len(opened.lab.console_history)
    result = opened.lab.run(line, lang)
    if result.changed or len(opened.lab.console_history) != typed:
        repo.save(engine, opened.row, opened.lab.to_data(), count=True)
        keep(engine, opened)  # the result is plain data built by run()
    else:
        rate(engine, opened)
    return result


def send(
    engine: Engine,
    opened: Opened,
    src: str,
    dst: str,
    proto: str,
    count: int,
    node: str | None = None,
) -> Any:
    """Send `count` packets: conntrack and counters move, so the lab is saved, and counted
    against the minute's budget by that same save (a refused request is counted alone)."""
    check_count(count)
    check_rate(opened)
    try:
        result = opened.lab.request(src, dst, proto, count, node=node)
    except LabError:
        rate(engine, opened)
        raise
    repo.save(engine, opened.row, opened.lab.to_data(), count=True)
    keep(engine, opened)  # the answer is plain data built by request()
    return result


__all__ = ["LabError", "Opened", "new_lab", "open_lab", "run_line", "send"]
