"""The course: lessons read from `lessons/` (one folder per lesson, zh and en side by side),
goals checked against a lab (`app.sim.lab.Lab`) and its traces, and a runner that proves
every lesson's solution reaches every goal — and that no goal is met before its step.
"""

from app.curriculum.model import Course, Lesson, Step, load_course

__all__ = ["Course", "Lesson", "Step", "load_course"]
