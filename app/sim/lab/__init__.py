"""The lab: one learner's world as data (cluster, per-node rules, kube-proxy, conntrack,
seeded randomness, logical clock) and the console that drives it. Standard library only.

Public surface: `Lab`, `ConsoleResult`, `LabError`, `COMMANDS` (the console's programs,
keyed by the real tool's name), `complete(lab, line)` (tab completion), `MODES`.
"""

from app.sim.lab.commands import COMMANDS, Command
from app.sim.lab.complete import complete
from app.sim.lab.lab import Lab
from app.sim.lab.modes import MODES, Mode
from app.sim.lab.result import ConsoleResult, LabError

__all__ = ["COMMANDS", "MODES", "Command", "ConsoleResult", "Lab", "LabError", "Mode", "complete"]
