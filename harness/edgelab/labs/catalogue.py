"""Labs: versioned data (`labs/*.yaml`), checked at load; an attempt draws its targets.

A lab is the ticket the learner reads, the fault(s) the operator injects, the
findings expected, an investigation rubric over the learner's audit events, an
optional remediation goal and ordered hints (schema: the models below; guide:
labs/README.md). Everything that names the target is a template — `{namespace}`,
`{workload}`, `{service}`, `{config}`, `{image}`, `{node}`, ... — filled per
attempt from the drawn target (`draw`), so a randomised target changes every
expected answer. Files whose name starts with `_` are not labs: `_steps.yaml`
holds rubric steps that labs share (`- use: previous-logs`).

Loading reports every problem at once, each as `<file>: <field path>: <rule>
(got <value>)`. The answer vocabularies and templates are in vocab.py, an
attempt's draw in attempts.py, the checks beyond the schema in labcheck.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgelab.base.errors import EdgelabError
from edgelab.labs.labcheck import check
from edgelab.labs.model import LABS, FaultRef, Lab, LabError

SHARED_STEPS = "_steps.yaml"

__all__ = ["LABS", "FaultRef", "Lab", "LabError", "UnknownLab", "get", "load", "load_all", "shared_steps"]


# --- loading -------------------------------------------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as err:
        raise LabError([f"{path}: cannot read: {err.strerror}"]) from err
    except yaml.YAMLError as err:
        raise LabError([f"{path}: not valid YAML: {err}"]) from err


def shared_steps(labs_dir: Path = LABS) -> dict[str, dict[str, Any]]:
    path = labs_dir / SHARED_STEPS
    raw = _read(path) if path.exists() else {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise LabError([f"{path}: must map a step name to a step (description, match, command)"])
    return raw


def _expand(raw: dict[str, Any], shared: Mapping[str, dict[str, Any]], problems: list[str]) -> dict[str, Any]:
    """`- use: NAME` rubric items become the shared step NAME, with the item's own fields on top."""
    rubric = raw.get("rubric")
    if not isinstance(rubric, list):
        return raw
    out = []
    for i, item in enumerate(rubric):
        if isinstance(item, dict) and "use" in item:
            name = item["use"]
            if name not in shared:
                problems.append(f"rubric[{i}].use: unknown shared step {name!r}; known: {', '.join(sorted(shared))}")
                continue
            item = {"id": name, **shared[name], **{k: v for k, v in item.items() if k != "use"}}
        out.append(item)
    return {**raw, "rubric": out}


def load(path: Path, shared: Mapping[str, dict[str, Any]] | None = None) -> Lab:
    """Load and check one lab file; raise LabError listing every problem."""
    path = Path(path)
    raw = _read(path)
    if not isinstance(raw, dict):
        raise LabError([f"{path}: a lab is a mapping of fields (id, title, ticket, ...)"])
    problems: list[str] = []
    raw = _expand(raw, shared_steps(path.parent) if shared is None else shared, problems)
    try:
        lab = Lab.model_validate(raw)
    except ValidationError as err:
        for e in err.errors():
            got = f" (got {e['input']!r})" if e["type"] != "missing" else ""
            problems.append(f"{_path(e['loc'])}: {e['msg']}{got}")
    else:
        problems += check(lab, path.stem)
    if problems:
        raise LabError([f"{path}: {p}" for p in problems])
    return lab


class UnknownLab(EdgelabError):
    """No lab has this id."""

    def __init__(self, lab_id: str) -> None:
        super().__init__(f"unknown lab {lab_id!r}; `edgelab lab list` shows them")


def get(lab_id: str, labs_dir: Path = LABS) -> Lab:
    """One lab by id (its file name), checked as `load_all` checks it; UnknownLab when there is none."""
    path = Path(labs_dir) / f"{lab_id}.yaml"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", lab_id) or not path.is_file():  # no `_steps`, no `../x`
        raise UnknownLab(lab_id)
    return load(path)


def load_all(labs_dir: Path = LABS) -> dict[str, Lab]:
    """Every lab of `labs_dir` by id; raise LabError listing the problems of every file."""
    labs_dir = Path(labs_dir)
    shared = shared_steps(labs_dir)
    labs: dict[str, Lab] = {}
    problems: list[str] = []
    for path in sorted(labs_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        try:
            lab = load(path, shared)
        except LabError as err:
            problems += err.problems
        else:
            labs[lab.id] = lab
    if problems:
        raise LabError(problems)
    return labs


