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
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROG = "kube-proxy-lab"
#: Temporary directories for the worker processes' metrics (see `_metrics_dir`).
METRICS_DIR_PREFIX = "kube-proxy-lab-metrics-"
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
    parser.add_argument(
        "--log-format",
        choices=("json", "text"),
        default=None,
        help="json: one object per line (the default, or KPL_LOG_FORMAT); text: for a terminal",
    )


def _serve(args: argparse.Namespace) -> int:
    """Migrate the database once, then hand over to uvicorn."""
    import logging
    import logging.config

    import uvicorn
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from app.config import get_settings
    from app.store.db import make_engine, migrate
    from app.web.jsonlog import log_config

    try:
        settings = get_settings()
    except ValidationError as error:
        raise UsageError(f"bad setting in the environment: {error}") from None
    logging_config = log_config(args.log_format or settings.log_format)
    # Before the migration, so its log lines come out in the chosen format too.
    logging.config.dictConfig(logging_config)
    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
        engine.dispose()
    except (SQLAlchemyError, OSError) as error:
        raise UsageError(f"cannot prepare the database at DATABASE_URL: {error}", 1) from None
    with _metrics_dir(args.workers):
        logging.getLogger("app.cli").info(
            "serving on http://%s:%d with %d worker(s)", args.host, args.port, args.workers
        )
        uvicorn.run(
            "app.web.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=logging_config,  # applied again in every worker process
            access_log=False,  # the app writes its own access log, with request ids
            proxy_headers=True,
            # X-Forwarded-Proto from these makes the request HTTPS, so cookies get Secure.
            forwarded_allow_ips=settings.trusted_proxies,
        )
    return 0


@contextmanager
def _metrics_dir(workers: int) -> Iterator[None]:
    """With several workers, give prometheus_client a directory for every worker's values,
    so `/metrics` sums them all (multiprocess mode). The variable must be set before any
    worker imports prometheus_client; workers inherit it. An operator's own
    PROMETHEUS_MULTIPROC_DIR is used as is, emptied of the last run's files."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if workers == 1 and not given:
        yield
        return
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    _sweep_metrics_dirs()
    prefix = f"{METRICS_DIR_PREFIX}{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _sweep_metrics_dirs() -> None:
    """Remove the metrics directories of servers that were killed (SIGKILL skips the clean-up):
    each name holds its server's pid, and only a dead pid's directory of ours is removed."""
    for path in Path(tempfile.gettempdir()).glob(f"{METRICS_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(METRICS_DIR_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or path.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive, under another user


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
