"""A GitHub Actions workflow as data, for running its steps outside GitHub (examples/github-actions).

Only what the example uses: one job, its steps in order, `run:` (bash), `uses:` with `with:`, `if:`
(always(), !cancelled(), success() and none), `env:` at workflow, job and step level, and
`defaults.run.shell: bash`. `${{ ... }}` expressions are not evaluated: a value that holds one
must be given by the caller (`resolve`), so nothing GitHub-only is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "github-actions" / "edgelab-lab.yml"
SCRIPT = REPO / "examples" / "github-actions" / "investigate.sh"
# what GitHub runs for `shell: bash` (docs: "Workflow syntax", jobs.<job_id>.steps[*].shell)
BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})$")


@dataclass(frozen=True)
class Step:
    index: int
    name: str
    run: str | None = None
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)
    if_: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def action(self) -> str | None:
        """`actions/checkout` for `actions/checkout@<sha>`."""
        return self.uses.split("@")[0] if self.uses else None

    def runs(self, failed: bool) -> bool:
        """Whether GitHub runs this step after the earlier ones (one of them `failed`), never cancelled."""
        cond = (self.if_ or "success()").strip()
        if m := EXPRESSION.fullmatch(cond):  # `${{ always() }}` = `always()`
            cond = m.group(1).strip()
        if cond in ("always()", "!cancelled()", "success() || failure()"):
            return True
        if cond == "success()":
            return not failed
        if cond == "failure()":
            return failed
        raise ValueError(f"step {self.name!r}: condition {self.if_!r} is not one this runner knows")


@dataclass(frozen=True)
class Workflow:
    name: str
    triggers: Any
    env: dict[str, str]
    shell: str | None
    job: str
    job_env: dict[str, str]
    steps: list[Step]

    def expressions(self) -> dict[str, str]:
        """Workflow and job env values that hold `${{ }}` (GitHub evaluates them): name -> value."""
        return {k: v for k, v in {**self.env, **self.job_env}.items() if EXPRESSION.search(v)}

    def environment(self, resolve: dict[str, str]) -> dict[str, str]:
        """The env a step sees (workflow's, then job's), with `resolve` giving every value that is an expression."""
        missing = sorted(set(self.expressions()) - set(resolve))
        if missing:
            raise ValueError(f"env values only GitHub can evaluate, not given: {missing}")
        return {**self.env, **self.job_env, **resolve}


def _strings(d: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (d or {}).items()}


def load(path: Path = EXAMPLE) -> Workflow:
    data = yaml.safe_load(path.read_text())
    jobs = data["jobs"]
    if len(jobs) != 1:
        raise ValueError(f"{path}: one job expected, got {list(jobs)}")
    (job_id, job), = jobs.items()
    steps = [Step(i, str(s.get("name") or s.get("uses") or s.get("run", "").splitlines()[0]), s.get("run"),
                  s.get("uses"), _strings(s.get("with")), s.get("if"), _strings(s.get("env")))
             for i, s in enumerate(job["steps"])]
    shell = ((job.get("defaults") or data.get("defaults") or {}).get("run") or {}).get("shell")
    # YAML 1.1 reads the key `on` as True
    return Workflow(str(data.get("name")), data.get("on", data.get(True)), _strings(data.get("env")), shell,
                    str(job_id), _strings(job.get("env")), steps)
