"""A lab as plain data: `to_data`/`from_data` (stored between web requests), the undo
snapshots (compressed), and replaying a recipe.

The data holds everything the lab's future depends on — the cluster, each node's rules with
counters, conntrack, `-m recent` lists, kube-proxy's memory of its last sync, the random
generator's state, the logical clock and the next source port — so a restored lab continues
exactly as the original would have.
"""

from __future__ import annotations

import base64
import binascii
import json
import pickle
import random
import zlib
from typing import TYPE_CHECKING, Any

from app.sim.cluster import from_data as cluster_from_data
from app.sim.cluster import to_data as cluster_to_data
from app.sim.lab.nodes import NodeWorld
from app.sim.lab.result import LabError

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab

FORMAT = 1


def state(lab: Lab) -> dict[str, Any]:
    """What undo restores: everything but the console history, recipe and undo stack."""
    version, internal, gauss = lab.rng.getstate()
    return {
        "scenario": lab.scenario,
        "mode": lab.mode,
        "seed": lab.seed,
        "cluster": _cluster_data(lab),
        "nodes": [w.to_data() for w in lab.nodes.values()],
        "rng": [version, list(internal), gauss],
        "clock": lab.clock,
        "port": lab.port,
        "last_node": lab.last_node,
        "shell_node": lab.shell_node,
        "synced_version": lab.synced_version,
    }


def _cluster_data(lab: Lab) -> dict[str, Any]:
    """`cluster_to_data`, skipped while the cluster is exactly as at the last call (a packet
    request does not touch it). The fingerprint is a pickle of the cluster, about five times
    cheaper than the conversion, so equal bytes mean an equal cluster; the answer is always a
    fresh copy, so no caller shares (and could change) another's data."""
    try:
        key = pickle.dumps(lab.cluster, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return cluster_to_data(lab.cluster)
    memo = lab.cluster_memo
    if memo is not None and memo[0] == key:
        return pickle.loads(memo[1])
    data = cluster_to_data(lab.cluster)
    lab.cluster_memo = (key, pickle.dumps(data, pickle.HIGHEST_PROTOCOL))
    return data


def restore_state(lab: Lab, data: dict[str, Any]) -> None:
    lab.scenario, lab.mode, lab.seed = str(data["scenario"]), str(data["mode"]), int(data["seed"])
    lab.cluster = cluster_from_data(data["cluster"])
    lab.nodes = {}
    for item in data["nodes"]:
        world = NodeWorld.from_data(item)
        lab.nodes[world.name] = world
    rng = random.Random()
    version, internal, gauss = data["rng"]
    rng.setstate((version, tuple(internal), gauss))
    lab.rng = rng
    lab.clock, lab.port = float(data["clock"]), int(data["port"])
    lab.last_node, lab.shell_node = data["last_node"], data["shell_node"]
    lab.synced_version = int(data["synced_version"])


def to_data(lab: Lab) -> dict[str, Any]:
    return state(lab) | {
        "format": FORMAT,
        "console_history": list(lab.console_history),
        "commands": list(lab.commands),
        "history": list(lab.history),
        "last_sync": lab.last_sync,
    }


def from_data(cls: type[Lab], data: dict[str, Any]) -> Lab:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LabError(
            {"en": "not a stored lab (unknown format)", "zh": "不是已保存的实验(格式未知)"}
        )
    try:
        lab = cls(str(data["scenario"]), str(data["mode"]), int(data["seed"]))
        restore_state(lab, data)
        lab.console_history = [str(x) for x in data["console_history"]]
        lab.commands = list(data["commands"])
        lab.history = [str(x) for x in data["history"]]
        lab.last_sync = data.get("last_sync")
    except (KeyError, TypeError, ValueError, IndexError) as err:
        if isinstance(err, LabError):
            raise
        raise LabError(
            {"en": f"stored lab is damaged: {err}", "zh": f"已保存的实验已损坏:{err}"}
        ) from None
    return lab


def pack(data: dict[str, Any]) -> str:
    """A snapshot as a compact string (zlib, base64): undo keeps up to ten of them."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack(text: str) -> dict[str, Any]:
    try:
        return json.loads(zlib.decompress(base64.b64decode(text)))
    except (binascii.Error, zlib.error, ValueError) as err:
        raise LabError(f"damaged undo snapshot: {err}") from None


def from_recipe(cls: type[Lab], recipe: dict[str, Any]) -> Lab:
    """Replay a recipe: the scenario, mode and seed, then each command in order (a console
    line, {"request": [src, dst, proto, count, node]} with "times": n when sent n times in
    a row, {"import": text} or {"undo": true})."""
    if not isinstance(recipe, dict):
        raise LabError({"en": "a recipe is an object", "zh": "recipe 必须是一个对象"})
    lab = cls.new(
        str(recipe.get("scenario", "seed")),
        str(recipe.get("mode", "iptables")),
        recipe.get("seed", 1),
    )
    commands = recipe.get("commands", [])
    if not isinstance(commands, list):
        raise LabError(
            {"en": "recipe commands must be a list", "zh": "recipe 的 commands 必须是列表"}
        )
    for entry in commands:
        _replay(lab, entry)
    return lab


def _times(entry: dict[str, Any]) -> int | None:
    """How many times in a row a request entry was sent (1 without `times`); None if bad."""
    times = entry.get("times", 1)
    if isinstance(times, int) and not isinstance(times, bool) and times >= 1:
        return times
    return None


def _replay(lab: Lab, entry: Any) -> None:
    if isinstance(entry, str):
        lab.run(entry)
    elif isinstance(entry, dict) and "request" in entry and _times(entry) is not None:
        src, dst, proto, count, node = entry["request"]
        for _ in range(_times(entry) or 1):
            try:
                lab.request(src, dst, proto, count, node)
            except LabError:
                # it failed the first time too; keep it for fidelity
                lab.note_request([src, dst, proto, count, node])
    elif isinstance(entry, dict) and "import" in entry:
        lab.import_dump(str(entry["import"]))
    elif isinstance(entry, dict) and entry.get("undo"):
        lab.undo()
    else:
        raise LabError(
            {
                "en": f"unknown recipe entry: {entry!r:.80}",
                "zh": f"未知的 recipe 条目:{entry!r:.80}",
            }
        )
