"""Rules panels this process drew recently, as HTML, so the same panel is not drawn again.

Drawing the rules panel (partials/lab_rules_panel.html: every chain and rule with its
counters, delete button, editor and explain button) is most of the time of /lab and of
GET /lab/{id}/rules - ~12 ms for the seed lab's 100 KB, nearly all of it Jinja's own work per
rule. A lab's row version changes with every saved change, so a panel keyed by the lab id,
that version, the language, the node and the format is the same HTML for as long as the key
names it: a reload or a second look at a format costs a dictionary lookup. Only the plain
panel is kept (no packet's hits, no sync chips, no chain held open, not read-only, not an
out-of-band update): the panels of answers to actions are drawn for that one answer.

Below the panel, each chain is kept by its own content (`CHAINS`): an answer to a packet draws
only the chains whose counters or hits it changed, and takes the others as they were.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

SIZE = 128  # panels kept per process, least recently used first out
CHARS = 32 * 1024 * 1024  # ...and at most this much HTML in all (a 5,000-rule panel: ~5 MB)

Key = Hashable  # panels: lab id, row version, language, node, format; chains: all they show


class Panels:
    """A bounded, thread-safe map: key -> HTML, least recently used first out."""

    def __init__(self, size: int = SIZE, chars: int = CHARS) -> None:
        self.size, self.chars = size, chars
        self._html: OrderedDict[Key, str] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Key) -> str | None:
        with self._lock:
            html = self._html.get(key)
            if html is None:
                self.misses += 1
                return None
            self._html.move_to_end(key)
            self.hits += 1
            return html

    def put(self, key: Key, html: str) -> None:
        if len(html) > self.chars:
            return
        with self._lock:
            old = self._html.pop(key, None)
            if old is not None:
                self._chars -= len(old)
            self._html[key] = html
            self._chars += len(html)
            while len(self._html) > self.size or self._chars > self.chars:
                _, dropped = self._html.popitem(last=False)
                self._chars -= len(dropped)

    def __len__(self) -> int:
        return len(self._html)


# One per process: a key names a lab id (random, unique across databases) at one version of
# its row, so every app in the process (tests run several) may share it.
PANELS = Panels()
# Chains of panels, keyed by all they show (rules, counters, hits, language, ...): a chain a
# packet did not pass through is drawn once for the next answers too. Many small entries.
CHAINS = Panels(size=8192, chars=CHARS // 2)
