"""Graded runs for programs: a lab on a store, investigated by a command instead of a person.

`run` starts the lab as `lab start` does, issues the run its own responder
identity (responders.py: the learner's rights, its own user name in the audit
trail), and runs the agent's COMMAND with `sh -c` in a container:

- image `edgelab/agent-runner:<kubernetes pin>` (`ensure_image`): the fault
  operator's image (Python 3.11, PyYAML, the kubernetes client) with the
  pinned kubectl added and the operator's own code taken out; built locally
  once, rebuilt when its base changes;
- on Docker's `kind` network, reaching the store's API server by the control
  plane's name (`https://store-S-control-plane:6443`, in kind's serving
  certificate), with the responder's kubeconfig and nothing else of the host:
  no state folder, no admin kubeconfig, no Docker socket, no edgelab;
- not root (the caller's uid, or nobody when the caller is root), no
  capabilities, no new privileges, a read-only root file system, HOME=/tmp;
- working directory /agent: the mount folder, read-only, with its `labs/` and
  `drills/` (which name the answers) hidden.

The ticket is given in EDGELAB_TICKET and on stdin; findings come from the
file at EDGELAB_FINDINGS, else from stdout, in `lab submit`'s format. The run
is graded by `session.submit` like a person's (the responder's requests since
the start, the findings, the store's state), recorded in progress, the faults
cleared, the responder removed. Over the time limit the container is killed
and what it did is graded, marked `timed_out`. Everything the agent printed,
its findings and the result stay in the run's folder
(`~/.local/state/edgelab/runs/<time>-<lab>-<store>/`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from edgelab.base import files, paths, pins
from edgelab.base.errors import EdgelabError
from edgelab.base.types import Say
from edgelab.labs import attempts, catalogue, grading, session
from edgelab.machine import docker, tools
from edgelab.machine.online import buildkit_env
from edgelab.store import layout, responders, stores

NETWORK = "kind"  # kind's Docker network: where the stores' nodes are
FINDINGS_IN = "/run/edgelab-out/findings.yaml"
KUBECONFIG_IN = "/run/edgelab/kubeconfig"
HIDDEN = ("labs", "drills")  # folders of a mounted edgelab checkout that name the answers
IMAGE_FILES = ("/app/edgelab_operator", "/usr/local/bin/fleet-agent", "/usr/local/bin/node-agent")
NOBODY = "65534:65534"


class AgentRunError(EdgelabError):
    """The agent could not be run: Docker, the image, the mount folder or the store."""


@dataclass(frozen=True)
class RunResult:
    lab: str
    store: str
    agent: str
    result: grading.Result
    timed_out: bool
    time_limit: float | None
    agent_seconds: float
    total_seconds: float
    exit_code: int | None
    findings_source: str  # file | stdout | none
    findings_problem: str | None
    requests: int
    started_at: datetime
    folder: Path
    fault_types: tuple[str, ...] = ()  # what was drawn (instructors' view, like the result's `expected`)

    @property
    def passed(self) -> bool:
        return self.result.passed

    @property
    def score(self) -> float:
        return self.result.score

    def summary(self) -> str:
        """One line on how the agent ran (before the grade's lines)."""
        how = (f"stopped at the time limit ({self.time_limit:g} s): graded on what it did" if self.timed_out
               else f"exited {self.exit_code} after {self.agent_seconds:.1f} s")
        found = {"file": "findings from $EDGELAB_FINDINGS", "stdout": "findings from stdout",
                 "none": f"no findings ({self.findings_problem})"}[self.findings_source]
        if self.findings_problem and self.findings_source != "none":
            found += f" ({self.findings_problem})"
        return f"agent {how}; {self.requests} requests; {found}; output in {self.folder}"

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "store": self.store, "agent": self.agent, "passed": self.passed,
                "score": self.score, "timed_out": self.timed_out, "time_limit": self.time_limit,
                "agent_seconds": round(self.agent_seconds, 2), "total_seconds": round(self.total_seconds, 2),
                "exit_code": self.exit_code, "findings_source": self.findings_source,
                "findings_problem": self.findings_problem, "requests": self.requests,
                "started_at": self.started_at.isoformat(), "folder": str(self.folder),
                "fault_types": list(self.fault_types),
                "result": json.loads(json.dumps(self.result.to_dict(), default=str))}


# --- the image ---------------------------------------------------------------------------------------------


def image_name() -> str:
    return f"edgelab/agent-runner:{pins.load().kubernetes}"


def _label(ref: str, label: str) -> str | None:
    got = subprocess.run(["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', ref],
                         capture_output=True, text=True, check=False)
    return got.stdout.strip() if got.returncode == 0 else None


def ensure_image(say: Say = lambda _: None) -> str:
    """The agent image, built from the operator image and the pinned kubectl when missing or its base changed."""
    ref, base = image_name(), pins.load().fault_operator_image
    base_id = docker.image_id(base)
    if not base_id:
        raise AgentRunError(f"image {base} is missing: run `edgelab setup` first (it builds the store's images)")
    if _label(ref, "org.edgelab.base-id") == base_id:
        return ref
    kubectl = tools.linux_kubectl(docker.state().arch, pins.load(), say)  # on macOS too: the image is Linux
    say(f"building {ref} (once: the operator's image and kubectl {pins.load().kubernetes})")
    with tempfile.TemporaryDirectory(prefix="edgelab-agent-image-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(kubectl, ctx / "kubectl")
        (ctx / "Dockerfile").write_text(
            f"FROM {base}\n"
            "COPY kubectl /usr/local/bin/kubectl\n"
            f"RUN rm -rf {' '.join(IMAGE_FILES)} && chmod 0755 /usr/local/bin/kubectl\n"
            "ENV PYTHONPATH= HOME=/tmp\n"
            "WORKDIR /agent\n"
            'CMD ["sh"]\n')
        built = subprocess.run(["docker", "build", "--pull=false", "--network", "none", "--label",
                                f"org.edgelab.base-id={base_id}", "-t", ref, str(ctx)], capture_output=True,
                               text=True, check=False, env={**os.environ, **buildkit_env()})
        if built.returncode != 0:
            raise AgentRunError(f"building {ref} failed:\n{built.stderr[-2000:]}")
    return ref


# --- one run -----------------------------------------------------------------------------------------------


def runs_dir() -> Path:
    return paths.state_root() / "runs"


def _container_kubeconfig(host: Path, store: str, dest: Path) -> None:
    """The responder's kubeconfig, its server the control plane's name on the kind network."""
    cfg = yaml.safe_load(host.read_text())
    for c in cfg["clusters"]:
        c["cluster"]["server"] = f"https://{layout.control_plane(store)}:6443"
    dest.write_text(yaml.safe_dump(cfg))
    dest.chmod(0o644)  # the container's user reads it; the folder above is the caller's alone


def _user() -> str:
    uid, gid = os.getuid(), os.getgid()
    return NOBODY if uid == 0 else f"{uid}:{gid}"


def docker_command(name: str, image: str, agent: str, mount: Path, run_dir: Path, out_dir: Path,
                   env: Mapping[str, str], passed: tuple[str, ...] = (), memory: str = "1g") -> list[str]:
    """`docker run` for one agent: what it may see and do, and nothing else."""
    cmd = ["docker", "run", "--name", name, "--rm", "-i", "--network", NETWORK, "--user", _user(),
           "--read-only", "--tmpfs", "/tmp:rw,exec,size=256m", "--cap-drop", "ALL",
           "--security-opt", "no-new-privileges", "--pids-limit", "512", "--memory", memory,
           "-v", f"{mount}:/agent:ro", "-v", f"{run_dir}:/run/edgelab:ro", "-v", f"{out_dir}:/run/edgelab-out:rw",
           "-w", "/agent"]
    for hidden in HIDDEN:
        if (mount / hidden).is_dir():
            cmd += ["--mount", f"type=tmpfs,destination=/agent/{hidden},tmpfs-mode=0555"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    for key in passed:
        cmd += ["-e", key]  # the value comes from docker's own environment, not its command line
    return [*cmd, image, "sh", "-c", agent]


def read_findings(out_dir: Path, stdout: str) -> tuple[grading.Answer, str, str | None]:
    """(answer, where it came from, the problem when it is empty): the file first, else stdout."""
    file = out_dir / "findings.yaml"
    problem = None
    for source, text in (("file", file.read_text(errors="replace") if file.exists() else None), ("stdout", stdout)):
        if text is None or not text.strip():
            continue
        try:
            return grading.parse_findings(text), source, None
        except grading.FindingsError as e:
            problem = f"{source}: " + "; ".join(e.problems)
            break  # a file that exists is the agent's answer even when malformed: stdout is its log then
    return grading.Answer("", "", "", "", ()), "none", problem or "neither $EDGELAB_FINDINGS nor stdout held findings"


def run(store: str, lab_id: str, agent: str, *, time_limit: float | None = None, mount: Path | None = None,
        image: str | None = None, env: tuple[str, ...] = (), learner: str = "agent",
        say: Say = lambda _: None, targets: list[str] | None = None, types: list[str] | None = None) -> RunResult:
    """Start lab `lab_id` on `store`, run `agent` against it in a container, grade it like a person.

    `targets` and `types` are an instructor's choice instead of the lab's random draw (session.start).
    """
    lab = catalogue.get(lab_id)
    stores.validate_store_id(store)
    if missing := [k for k in env if k not in os.environ]:
        raise AgentRunError(f"--env {', '.join(missing)}: not set here; export it first (its value is passed, "
                            "never printed)")
    if not agent.strip():
        raise AgentRunError("--agent is empty: give the command that investigates (e.g. \"python3 agent.py\")")
    mount = (mount or Path.cwd()).resolve()
    if not mount.is_dir():
        raise AgentRunError(f"--mount {mount} is not a folder")
    if time_limit is not None and time_limit <= 0:
        raise AgentRunError("--time-limit must be positive (e.g. 10m, 90s)")
    if not stores.paths(store).admin_kubeconfig.exists():
        raise AgentRunError(f"store {store} is not up (run `edgelab up --store {store}` first)")
    if subprocess.run(["docker", "network", "inspect", NETWORK], capture_output=True, check=False).returncode != 0:
        raise AgentRunError(f"Docker network {NETWORK!r} is missing or Docker does not answer: is store {store} up? "
                            "(`edgelab doctor` says what to fix)")
    ref = image or ensure_image(say)
    began = time.monotonic()
    started = datetime.now(UTC)
    folder = runs_dir() / f"{started.strftime('%Y%m%dT%H%M%S')}-{lab_id}-{store}-{secrets.token_hex(2)}"
    run_dir, out_dir = folder / "run", folder / "out"
    for d in (run_dir, out_dir):
        d.mkdir(parents=True)
    folder.chmod(0o700)
    run_dir.chmod(0o755)
    out_dir.chmod(0o777 if _user() == NOBODY else 0o700)
    name = f"agent-{secrets.token_hex(3)}"
    say(f"issuing the run's identity ({name})")
    who = responders.add(store, name, out=folder / "responder.kubeconfig")
    container = f"edgelab-{name}"
    graded = False
    try:
        _container_kubeconfig(who.kubeconfig, store, run_dir / "kubeconfig")
        _, running = session.start(store, lab_id, say=say, targets=targets, types=types, user=who.user)
        ticket = attempts.ticket(lab, running.attempt)
        fixed = {"KUBECONFIG": KUBECONFIG_IN, "EDGELAB_STORE": store, "EDGELAB_FINDINGS": FINDINGS_IN,
                 "EDGELAB_TIME_LIMIT": "" if time_limit is None else f"{time_limit:g}", "HOME": "/tmp"}
        cmd = docker_command(container, ref, agent, mount, run_dir, out_dir, fixed, ("EDGELAB_TICKET", *env))
        say(f"running the agent{'' if time_limit is None else f' (time limit {time_limit:g} s)'}")
        t0 = time.monotonic()
        with open(folder / "stdout", "w") as so, open(folder / "stderr", "w") as se:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=so, stderr=se, text=True,
                                    env={**os.environ, "EDGELAB_TICKET": ticket})
            timed_out = False
            try:
                proc.communicate(ticket + "\n", timeout=time_limit)
            except subprocess.TimeoutExpired:
                timed_out = True
                subprocess.run(["docker", "kill", container], capture_output=True, check=False)
                proc.wait()
        agent_seconds = time.monotonic() - t0
        answer, source, problem = read_findings(out_dir, (folder / "stdout").read_text(errors="replace"))
        say("grading")
        result = session.submit(store, answer, learner=learner, say=say)
        graded = True
        reqs = stores.audit_events(store, since=running.attempt.started_at, user=who.user)
        out = RunResult(lab.id, store, agent, result, timed_out, time_limit, agent_seconds,
                        time.monotonic() - began, None if timed_out else proc.returncode, source, problem,
                        len(grading.requests(reqs, who.user, running.attempt.started_at)),
                        running.attempt.started_at, folder, tuple(attempts.fault_types(lab, running.attempt)))
        files.write_locked(folder / "result.json", json.dumps(out.to_dict(), indent=1))
        return out
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
        if not graded and session.running(store) is not None:  # interrupted or failed: nothing half-made
            session.abandon(store)
        responders.remove(store, name)
