"""Practice sittings without the web: which questions a mock interview, a topic drill or a
review asks, how each is shown (choices, shuffled ordering items) and how a submitted form
turns into answers. Questions are named by reference: `bank:ID` or `gen:KIND:SEED`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.curriculum.quiz.bank import Question, check_bank
from app.curriculum.quiz.generated import KINDS, Generated, generate
from app.curriculum.quiz.grading import Verdict, grade

#: Topics of the generated kinds (a drill on a topic draws these too).
GENERATED_TOPICS = {
    "reach": "service",
    "probability": "modes",
    "next-chain": "tables-chains",
    "walk-count": "tables-chains",
    "ipvs-scale": "ipvs",
    "sh-pick": "ipvs",
    "rejected": "troubleshooting",
}
MAX_QUESTIONS = 30
#: The drill of generated questions only: endless practice the engine grades.
ENGINE = "engine"


@lru_cache(maxsize=1)
def bank() -> dict[str, Question]:
    """The bank by id (loaded once per process; `quiz check` guards its content)."""
    return {q.id: q for q in check_bank()[0]}


def resolve(ref: str) -> Question | Generated | None:
    """The question a reference names, or None for one that no longer exists."""
    kind, _, rest = ref.partition(":")
    if kind == "bank":
        return bank().get(rest)
    name, _, seed = rest.rpartition(":")
    if kind == "gen" and name in KINDS and seed.isdigit():
        return generate(name, int(seed))
    return None


def topic_of(ref: str) -> str:
    question = resolve(ref)
    return question.topic if question is not None else "unknown"


def pick(seed: int, count: int, topic: str | None = None) -> list[str]:
    """`count` questions for a sitting: bank questions (explain ones only in drills, where
    there is time to self-grade) and about one in three generated."""
    rng = random.Random(seed)
    count = max(1, min(count, MAX_QUESTIONS))
    if topic == ENGINE:
        return [f"gen:{rng.choice(sorted(KINDS))}:{rng.randrange(10_000)}" for _ in range(count)]
    pool = [q.id for q in bank().values() if topic in (None, q.topic)]
    if topic is None:
        pool = [i for i in pool if bank()[i].type != "explain"]
    kinds = [k for k, t in GENERATED_TOPICS.items() if topic in (None, t)]
    generated = min(len(kinds) and max(1, count // 3), count)
    refs = [f"gen:{rng.choice(kinds)}:{rng.randrange(10_000)}" for _ in range(generated)]
    refs += [f"bank:{i}" for i in rng.sample(pool, min(count - generated, len(pool)))]
    rng.shuffle(refs)
    return refs


@dataclass
class Shown:
    """One question as the page shows it: texts in the learner's language."""

    ref: str
    type: str
    topic: str
    prompt: str
    choices: list[tuple[int, str]] = field(default_factory=list)  # (value, label)
    context: str = ""
    model: str = ""
    rubric: list[str] = field(default_factory=list)
    version: str = ""
    lesson: str = ""


def show(ref: str, lang: str, salt: str) -> Shown | None:
    """How to show `ref`; ordering items are shuffled by `salt` (the run id), the same
    every time the run is shown."""
    question = resolve(ref)
    if question is None:
        return None
    if isinstance(question, Generated):
        labels = [] if question.type == "fill" else list(enumerate(question.choices))
        return Shown(
            ref, question.type, question.topic, question.prompt[lang], labels, question.context
        )
    shown = Shown(ref, question.type, question.topic, question.prompt[lang])
    shown.version, shown.lesson = question.version.get(lang, ""), question.lesson
    if question.type in ("single", "multiple"):
        # The bank lists the right answer anywhere, often first: show the choices shuffled.
        shown.choices = [(i, c[lang]) for i, c in enumerate(question.choices)]
        random.Random(f"{salt}/{ref}").shuffle(shown.choices)
    elif question.type == "order":
        order = list(range(len(question.items)))
        rng = random.Random(f"{salt}/{ref}")
        while order == sorted(order):
            rng.shuffle(order)
        shown.choices = [(i, question.items[i][lang]) for i in order]
    elif question.type == "explain":
        shown.model = question.model[lang]
        shown.rubric = [r[lang] for r in question.rubric]
    return shown


def answer_from_form(shown: Shown, form: Any, index: int) -> object:
    """The answer to question `index` of a sitting from the submitted form fields
    (`a{index}`; for an ordering, `a{index}_{item}` = its position)."""
    name = f"a{index}"
    if shown.type == "order":
        positions = {}
        for value, _label in shown.choices:
            raw = form.get(f"{name}_{value}", "")
            positions[value] = int(raw) if str(raw).isdigit() else 0
        if len(set(positions.values())) != len(positions):
            return None  # two items in one place: not an ordering
        return sorted(positions, key=positions.__getitem__)
    if shown.type == "fill":
        return str(form.get(name, ""))
    return list(form.getlist(name))


def describe(shown: Shown, answer: object) -> str:
    """The learner's answer in words, for the review of mistakes ("" for no answer)."""
    if isinstance(answer, str):
        return answer.strip()[:200]
    if not isinstance(answer, list) or shown.type == "explain":
        return ""
    labels = dict(shown.choices)
    picked = [labels.get(int(a), "?") if str(a).lstrip("-").isdigit() else "?" for a in answer]
    return (" → " if shown.type == "order" else " / ").join(picked)


def grade_ref(ref: str, answer: object, lang: str) -> Verdict:
    question = resolve(ref)
    if question is None:
        return Verdict(False, "")
    return grade(question, answer, lang)


def explanation(ref: str, lang: str) -> str:
    question = resolve(ref)
    if question is None:
        return ""
    return question.explain[lang]
