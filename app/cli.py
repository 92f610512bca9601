"""The `kube-proxy-lab` console script: one argparse sub-command per registered `Command`.

To add a sub-command, write a module with two small functions and register them, then list
the module in `COMMAND_MODULES`::

    def _add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def _run(args: argparse.Namespace) -> int: ...          # the exit status
    register(Command("trace", "Trace one packet through a ruleset", _add_arguments, _run))

A command reports bad input by raising `UsageError`: the user sees the message on stderr and
exit status 2, never a traceback (argparse does the same for malformed options).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PROG = "kube-proxy-lab"
#: Modules imported before parsing; importing one registers its commands.
COMMAND_MODULES: tuple[str, ...] = (
    "app.cli_trace",
    "app.cli_render",
    "app.cli_lessons",
    "app.cli_quiz",
)


class UsageError(Exception):
    """Bad input from the user: printed as is, exit status 2 (or `status` when given)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, one-line help, how it reads arguments and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    """Add `command` to the console script; a name may be registered once."""
    if command.name in COMMANDS:
        raise ValueError(f"sub-command {command.name!r} is registered twice")
    COMMANDS[command.name] = command
    return command


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, not {text}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--workers", type=_positive, default=1, help="worker processes")


def _serve(args: argparse.Namespace) -> int:
    """Migrate the database once, then hand over to uvicorn."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from app.config import get_settings
    from app.store.db import make_engine, migrate

    url = get_settings().database_url
    try:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
    except (SQLAlchemyError, OSError) as error:
        raise UsageError(f"cannot prepare the database at DATABASE_URL: {error}", 1) from None
    print(f"{PROG}: serving on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(
        "app.web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        proxy_headers=True,
    )
    return 0


register(Command("serve", "serve the web app", _serve_arguments, _serve))


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    parser = argparse.ArgumentParser(
        prog=PROG, description="KubeProxy Lab: watch a Kubernetes Service load-balance."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(child)
        child.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as error:
        print(f"{PROG} {args.command}: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`kube-proxy-lab trace ... | head`): like coreutils, stop quietly.
        # Point stdout at /dev/null so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as error:  # the promise: no traceback for the user, unless asked for
        if os.environ.get("KPL_DEBUG"):
            traceback.print_exc()
        print(f"{PROG} {args.command}: internal error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # `python -m app.cli` runs this file as __main__; command modules register into the
    # importable `app.cli`, so hand over to that one registry.
    from app.cli import main as registry_main

    sys.exit(registry_main())
