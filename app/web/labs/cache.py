"""Labs this process rebuilt recently, so a request need not rebuild one from its stored data.

Rebuilding a lab (`Lab.from_data`: the cluster, every node's rules parsed back from
iptables-save text, conntrack) cost more than the rest of a packet request together. Each
entry holds the `Lab` exactly as stored at one version of its row; a request still reads the
row (that read checks who may open it and which version is current) and only skips the
rebuild when the cached version is that one. A row saved by another process has another
version, so its cached copy is never served.

An entry is checked out, not shared: `take` removes it, so no two threads ever hold the same
`Lab`; `give` puts it back once the lab is known to equal its stored version again (after a
save, or after an action that changed nothing). A lab that was taken and not given back (an
error, a conflict, a read that may have moved it) is simply rebuilt next time.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from sqlalchemy import Engine

from app.sim.lab import Lab

SIZE = 256  # labs kept per process, least recently used first out (a seed lab: ~0.2 MB)
# ...and at most this many rules in all of them: a parsed rule takes about 1 KiB, and a lab
# may hold 5,000 per node (console.MAX_RULES), so the count alone would not bound memory.
RULES = 200_000


def weight(lab: Lab) -> int:
    """What a lab costs the cache: its rules on every node, plus one for the rest."""
    return 1 + sum(world.rule_count() for world in lab.nodes.values())


class LabCache:
    """A bounded, thread-safe map: lab id -> (version, Lab), least recently used first out."""

    def __init__(self, size: int = SIZE, rules: int = RULES) -> None:
        self.size, self.rules = size, rules
        self._labs: OrderedDict[str, tuple[int, Lab, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def take(self, lab_id: str, version: int) -> Lab | None:
        """The lab as stored at `version`, removed from the cache; None if not cached at it."""
        with self._lock:
            entry = self._labs.pop(lab_id, None)
            if entry is not None:
                self._weight -= entry[2]
            if entry is not None and entry[0] == version:
                self.hits += 1
                return entry[1]
            # Absent, or cached at another version (stale, or newer than this request's read).
            if entry is not None and entry[0] > version:
                self._labs[lab_id] = entry
                self._weight += entry[2]
            self.misses += 1
            return None

    def give(self, lab_id: str, version: int, lab: Lab) -> None:
        """Keep `lab`, which equals the row of `lab_id` at `version`."""
        cost = weight(lab)  # outside the lock: no other thread holds this lab
        with self._lock:
            held = self._labs.pop(lab_id, None)
            if held is not None and held[0] >= version:
                self._labs[lab_id] = held  # another request put back this version or a newer one
                return
            if held is not None:
                self._weight -= held[2]
            self._labs[lab_id] = (version, lab, cost)
            self._weight += cost
            while len(self._labs) > self.size or (
                self._weight > self.rules and len(self._labs) > 1
            ):
                _, (_, _, dropped) = self._labs.popitem(last=False)
                self._weight -= dropped

    def __len__(self) -> int:
        return len(self._labs)

    def holds(self, lab_id: str) -> bool:
        """Whether some version of the lab is cached: the caller then reads the row without
        its data and `take`s; a lab not cached at all (counted as a miss) is read whole."""
        with self._lock:
            if lab_id in self._labs:
                return True
            self.misses += 1
            return False


# One cache per engine, that is per app and database: two apps in one process (tests) behave
# like two processes, and a lab id in one database never answers for another.
_CACHES: weakref.WeakKeyDictionary[Engine, LabCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def for_engine(engine: Engine) -> LabCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = LabCache()
        return cache
