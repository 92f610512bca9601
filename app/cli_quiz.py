"""`kube-proxy-lab quiz check`: validate the interview question bank (both languages, one
right answer where there must be one, every lesson link) and print counts per type and
topic; `--generated N` also poses and grades N questions of every generated kind.
Exit 0 when the bank holds, 1 when it has errors (warnings do not fail it)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from app.cli import Command, register
from app.curriculum.quiz.bank import TOPICS, TYPES, check_bank
from app.curriculum.quiz.generated import KINDS
from app.curriculum.quiz.grading import answer_key, grade

HELP = "check the interview question bank and the generated questions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["check"], help="what to do with the quiz")
    parser.add_argument(
        "--generated", type=int, default=3, metavar="N", help="seeds per generated kind"
    )


def _generated(seeds: int) -> list[str]:
    """Pose each kind for `seeds` seeds; its own answer key must grade right."""
    problems = []
    for kind, make in KINDS.items():
        for seed in range(max(0, seeds)):
            question = make(seed)
            if not grade(question, answer_key(question)).correct:
                problems.append(f"generated {kind} seed {seed}: its answer key grades wrong")
    return problems


def run(args: argparse.Namespace) -> int:
    questions, report = check_bank()
    types = Counter(q.type for q in questions)
    topics = Counter(q.topic for q in questions)
    print(f"{len(questions)} questions")
    print("by type:  " + ", ".join(f"{t} {types[t]}" for t in TYPES))
    print("by topic: " + ", ".join(f"{t} {topics[t]}" for t in TOPICS))
    errors = report.errors + _generated(args.generated)
    print(f"generated kinds: {', '.join(KINDS)}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"{len(errors)} error(s), {len(report.warnings)} warning(s)")
    return 1 if errors else 0


register(Command("quiz", HELP, add_arguments, run))
