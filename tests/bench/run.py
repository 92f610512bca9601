"""Run every benchmark module `tests/bench/bench_*.py` and print one `name: value unit` per line.

Each module exposes `run() -> list[tuple[str, float, str]]`: figures it measured (medians over
repeated runs, with any baseline measured in the same run). `python tests/bench/run.py [NAME ...]`
runs only the modules whose names contain one of the NAMEs. Exit status 1 if a module fails.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_modules.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as `import` does: dataclasses look their module up there.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _format(value: float) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def main(argv: list[str]) -> int:
    # The benchmarks import the project (app.*), helpers beside them, and the helpers they
    # share with the tests (tests/live_server.py).
    sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]
    modules = sorted(HERE.glob("bench_*.py"))
    if argv:
        modules = [path for path in modules if any(name in path.stem for name in argv)]
    if not modules:
        print("no benchmark modules (tests/bench/bench_*.py)", file=sys.stderr)
        return 0
    status = 0
    for path in modules:
        try:
            figures = _load(path).run()
        except Exception:
            print(f"{path.name} failed:", file=sys.stderr)
            traceback.print_exc()
            status = 1
            continue
        for name, value, unit in figures:
            print(f"{name}: {_format(value)} {unit}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
