"""The findings asked for question by question (`lab submit` without --findings): the same fields, in the same
order, as a findings file, each answer checked against the vocabulary as it is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import yaml

from edgelab.labs import grading, vocab

Check = Callable[[str], str]  # returns the answer, or raises ValueError with what is accepted


class Ask(Protocol):
    def __call__(self, text: str, check: Check | None = None, optional: bool = False) -> str: ...


def known(lookup: Callable[[str], str | None], choices: str) -> Check:
    """A check that accepts a vocabulary word (or a synonym) and says the choices otherwise."""
    def check(value: str) -> str:
        if lookup(value) is None:
            raise ValueError(f"{value!r} is not one of: {choices}")
        return value
    return check


def findings(ask: Ask) -> str:
    """The learner's findings as a findings file (YAML): namespace, workload, pod state, root cause, evidence
    (one quote per question until an empty answer), node (may stay empty)."""
    answers: dict[str, Any] = {
        "namespace": ask("namespace where the problem is"),
        "workload": ask("deployment (or one of its pods)"),
        "pod_state": ask(f"pod state ({', '.join(vocab.POD_STATES)})",
                         check=known(vocab.pod_state, ", ".join(vocab.POD_STATES))),
        "root_cause": ask("root cause (`edgelab lab causes` lists them)",
                          check=known(vocab.root_cause, ", ".join(vocab.ROOT_CAUSES))),
    }
    evidence = [ask("evidence: paste the log line or event message that shows it")]
    while len(evidence) < grading.MAX_EVIDENCE and (more := ask("more evidence (empty line: done)", optional=True)):
        evidence.append(more)
    answers["evidence"] = evidence
    if node := ask("node, if one is involved (empty line: none)", optional=True):
        answers["node"] = node
    return yaml.safe_dump(answers)
