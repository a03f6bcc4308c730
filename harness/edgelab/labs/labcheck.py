"""Checks of a lab beyond its schema: no spoilers in the ticket, every template answerable for every target
an attempt may draw, evidence patterns that compile, remediation goals that fill."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from edgelab.labs.attempts import allowed_targets, allowed_types, draw, fault_catalogue
from edgelab.labs.model import Lab
from edgelab.labs.vocab import ROOT_CAUSES, VARIABLE, causes_key, evidence_pattern, fill, variables

# --- checks beyond the schema --------------------------------------------------------------------------------

# A ticket is the store manager's report: it names no mechanism, no exercise.
SPOILER_WORDS = ("fault", "inject", "chaos", "lab", "exercise", "kubernetes", "k8s", "kubectl", "pod", "deployment",
                 "configmap", "secret", "selector", "endpoint", "namespace", "replica", "rollout", "rollback",
                 "container", "image", "registry", "node", "kubelet", "cpu", "memory", "oom", "crash",
                 "network policy", "networkpolicy", "config", "limit", "scaled", "database", "pool")


def ticket_spoilers(text: str) -> list[str]:
    """Words or phrases of `text` that give the cause away (spoiler words, root causes and their synonyms)."""
    plain = " " + causes_key(text) + " "
    phrases = set(SPOILER_WORDS) | {causes_key(w) for c, s in ROOT_CAUSES.items() for w in (c, *s)}
    return [p for p in sorted(phrases) if re.search(rf"\b{re.escape(causes_key(p))}s?\b", plain)]


def _strings(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{path}[{i}]")


def check(lab: Lab, stem: str) -> list[str]:
    """Cross-field rules: catalogue types and targets, step order, templates, spoilers. One line per problem."""
    problems: list[str] = []
    if lab.id != stem:
        problems.append(f"id: must equal the file name {stem!r} (got {lab.id!r})")
    cat = fault_catalogue()
    for i, ref in enumerate(lab.faults):
        kinds = [(f"faults[{i}].type", ref.type)] + [(f"faults[{i}].alternatives[{k}].type", a.type)
                                                      for k, a in enumerate(ref.alternatives)]
        if len({kind for _, kind in kinds}) < len(kinds):
            problems.append(f"faults[{i}].alternatives: a type is listed twice (got {[kind for _, kind in kinds]})")
        if ref.alternatives and not ref.targets:
            problems.append(f"faults[{i}].targets: a fault with alternatives lists its targets (each type's own)")
        for where, kind in kinds:
            if kind not in cat.types:
                problems.append(f"{where}: unknown fault type {kind!r}; known: {', '.join(sorted(cat.types))}")
                continue
            ft = cat.types[kind]
            for j, target in enumerate(ref.targets or []):
                if target not in ft.targets:
                    problems.append(f"faults[{i}].targets[{j}]: {target!r} is not a target of fault type {kind} "
                                    f"(it can hit: {', '.join(ft.targets)})")
            if ft.needs_workers and lab.min_nodes < ft.needs_workers + 1:
                problems.append(f"min_nodes: fault type {kind} needs a store of at least {ft.needs_workers + 1} "
                                f"nodes; say so with min_nodes: {ft.needs_workers + 1} (got {lab.min_nodes})")
    if problems:
        return problems  # the template checks need valid faults

    seen: set[str] = set()
    for i, step in enumerate(lab.rubric):
        if step.id in seen:
            problems.append(f"rubric[{i}].id: {step.id!r} is used twice")
        if step.after is not None and step.after not in seen:
            problems.append(f"rubric[{i}].after: {step.after!r} is not the id of an earlier step")
        seen.add(step.id)

    # every template must be answerable for every target an attempt may draw
    per_target = [draw(lab, targets=[t, *[ts[0] for ts in allowed_targets(lab)[1:]]], store="0",
                       types=[k, *[ks[0] for ks in allowed_types(lab)[1:]]])
                  for t in allowed_targets(lab)[0] for k in allowed_types(lab)[0]]
    known = set.intersection(*(set(a.values) for a in per_target))
    dump = lab.model_dump(by_alias=True, exclude={"id", "title", "course", "level", "ticket", "faults"})
    literal_workloads = {t.split("/")[1] for ts in allowed_targets(lab) for t in ts}
    for where, text in _strings(dump):
        in_step = re.match(r"rubric\[(\d+)\]", where)
        allowed = known | (set(lab.rubric[int(in_step[1])].with_) if in_step else set())
        if unknown := variables(text) - allowed:
            problems.append(f"{where}: unknown template variable(s) {sorted(unknown)}; known for every target of "
                            f"this lab: {', '.join(sorted(allowed))} (got {text!r})")
        for w in sorted(literal_workloads) if not where.startswith("hints") else ():
            if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w])", VARIABLE.sub("", text)):
                problems.append(f"{where}: names the target {w!r} literally; write {{workload}} (or another "
                                f"template) so that a randomised target changes the answer (got {text!r})")
    for name in ("namespace", "workload"):
        if not variables(getattr(lab.findings, name)):
            problems.append(f"findings.{name}: must reference the drawn target, e.g. {{{name}}} "
                            f"(got {getattr(lab.findings, name)!r})")
    if problems:
        return problems

    for a in per_target:
        for j, entry in enumerate(lab.findings.evidence):
            try:
                pattern = evidence_pattern(entry, a.values)
            except re.error as err:
                problems.append(f"findings.evidence[{j}]: not a valid regex: {err} (got {entry!r})")
                break
            if pattern.search("") or pattern.search("error") or pattern.search("x" * 200):
                problems.append(f"findings.evidence[{j}]: matches almost anything; evidence must be specific "
                                f"(got {entry!r})")
                break
        for j, goal in enumerate(lab.remediation.goals if lab.remediation else []):
            if not fill(str(goal.min_ready), a.values).isdigit():
                problems.append(f"remediation.goals[{j}].min_ready: must be a whole number (got {goal.min_ready!r})")
    if ticket_vars := variables(lab.ticket) - {"store"}:
        problems.append(f"ticket: may use only {{store}}; {sorted(ticket_vars)} would point at the target")
    if spoilers := ticket_spoilers(lab.ticket):
        problems.append(f"ticket: gives the cause away ({', '.join(spoilers)}); a ticket reports the symptom as a "
                        "store manager would")
    # the learner types the id (`lab start ID`) and reads the title: neither may name the cause either
    if spoilers := ticket_spoilers(lab.id.replace("-", " ")):
        problems.append(f"id: gives the cause away ({', '.join(spoilers)}); name the lab after its symptom "
                        f"(got {lab.id!r})")
    if spoilers := ticket_spoilers(lab.title):
        problems.append(f"title: gives the cause away ({', '.join(spoilers)}); name the lab after its symptom "
                        f"(got {lab.title!r})")
    return sorted(set(problems), key=problems.index)
