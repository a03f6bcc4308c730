"""edgelab as its users run it: a non-root user of the `docker` group, from a clone, with `make up`.

Two worlds, both on this machine, both played to the end (a store up, a lab
started, investigated with the learner's kubectl, submitted and graded, the
store down), each as the Unix user `edgeuser` (not root, in the docker group):

- **online through a registry mirror**: no machine of ours reaches the
  internet, so a registry stands in (Debian's `docker-registry` on
  127.0.0.1 for the host's Docker and on the kind network's gateway for the
  nodes), filled with our offline-built images under their upstream names:
  `kindest/node` (our node image minus the add-ons, so the nodes must pull
  them), `library/python:3.11-slim` (our python base plus pip), the add-ons.
  Their digests cannot match upstream's, so EDGELAB_NODE_IMAGE and
  EDGELAB_PYTHON_IMAGE name them by tag (docs/where.md says so). The user
  brings kind and kubectl of the pinned versions on PATH (/usr/bin/kubectl,
  v1.32, is there too and must not be used).
- **a lab machine prepared once**: root's offline set-up (this test session's
  own, `/var/lib/edgelab`); the user has no record and builds nothing.
- **the CI example** (examples/github-actions/edgelab-lab.yml): the workflow's
  steps in order, in a workspace laid out as a GitHub runner's, through the
  same registry: a learner's investigate.sh run by `edgelab lab run`, graded,
  its JUnit report checked, the store torn down (ghworkflow.py reads the YAML).

Each asserts that the host is as before (iptables rules, sysctl values,
/etc/docker/daemon.json, the Debian package list, dockerd's runtime) and that
nothing root-owned is left in the user's home; the online one also that every
pull went through the registry and our images were built FROM its python.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ghworkflow
import pytest
import yaml

from edgelab.base import pins
from edgelab.base.errors import ClusterError
from edgelab.kube.cluster import poll
from edgelab.labs import catalogue as labs
from edgelab.labs import evidence, grading
from edgelab.machine import docker as engine
from edgelab.machine import prepare
from edgelab.machine import record as machine
from edgelab.machine.offline.steps import CONTAINERD_DOWN, CONTAINERD_UP
from edgelab.store import stores as storelib

REPO = Path(__file__).resolve().parents[2]
USER = "edgeuser"
LAB = "pos-down-4523"
SYSCTLS = ("fs.inotify.max_user_instances", "fs.inotify.max_user_watches", "net.ipv4.ip_forward",
           "net.bridge.bridge-nf-call-iptables", "net.netfilter.nf_conntrack_max", "kernel.keys.maxkeys",
           "vm.max_map_count", "net.ipv4.conf.all.route_localnet")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200),  # a venv, a store and a lab as another user
              pytest.mark.skipif(os.geteuid() != 0, reason="stands in users and a registry: needs root here")]


def say(message: str) -> None:
    print(f"[users] {message}", file=sys.__stderr__, flush=True)


def sh(*cmd: str, timeout: float = 600, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        raise AssertionError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr[-2000:]}{proc.stdout[-1000:]}")
    return proc  # type: ignore[no-any-return]


# --- the host, before and after -----------------------------------------------------------------------


DOCKER_PORT_RULE = re.compile(r"-A DOCKER (-d \S+ )?! -i \S+ .*-j DNAT --to-destination|-A DOCKER -d \S+/32 ! -i \S+ -o \S+ "
                              r"-p tcp -m tcp --dport \d+ -j ACCEPT|-A POSTROUTING -s (\S+)/32 -d \2/32 -p tcp -m tcp "
                              r"--dport \d+ -j MASQUERADE")


def host_snapshot() -> dict[str, object]:
    def iptables(binary: str) -> list[str]:
        """The rules, less Docker's own for each container's published port (the other lanes' stores come and
        go meanwhile: those are Docker's doing, not a change to the host)."""
        out = sh(binary, check=False).stdout if shutil.which(binary) else ""
        return sorted(re.sub(r"\[\d+:\d+\]", "", line) for line in out.splitlines()
                      if not line.startswith("#") and not DOCKER_PORT_RULE.match(line))

    sysctl = {}
    for key in SYSCTLS:
        path = Path("/proc/sys") / key.replace(".", "/")
        sysctl[key] = path.read_text().strip() if path.exists() else None
    daemon = Path("/etc/docker/daemon.json")
    return {
        "iptables": iptables("iptables-save"),
        "sysctl": sysctl,
        "daemon.json": hashlib.sha256(daemon.read_bytes()).hexdigest() if daemon.exists() else None,
        "packages": sh("dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n").stdout,
        "runtime": engine.state().default_runtime,
    }


def assert_host_unchanged(before: dict[str, object]) -> None:
    after = host_snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} changed: {before[key]!r} -> {after[key]!r}"


def assert_nothing_root_owned(home: Path) -> None:
    found = sh("find", str(home), "-not", "-user", USER, "-print").stdout.split()
    assert not found, f"root-owned files left in {home}: {found[:20]}"


# --- the user ------------------------------------------------------------------------------------------


@dataclass
class User:
    name: str
    home: Path
    checkout: Path
    env: dict[str, str]
    transcript: Path  # every command run as the user and what it printed (kept in pytest's tmp folder)

    def run(self, command: str, timeout: float = 900, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`command` in the user's login shell, in their checkout, with their environment plus `env`."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in {**self.env, **(env or {})}.items())
        script = f"cd {shlex.quote(str(self.checkout))} && export {exports} && {command}" if exports else \
            f"cd {shlex.quote(str(self.checkout))} && {command}"
        say(f"{self.name}$ {command}")
        proc = sh("su", "-", self.name, "-c", script, timeout=timeout, check=False)
        with self.transcript.open("a") as t:
            t.write(f"{self.name}$ {command}\n{proc.stdout}{proc.stderr}[exit {proc.returncode}]\n\n")
        if check and proc.returncode != 0:
            raise AssertionError(f"as {self.name}: `{command}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    def write(self, relative: str, text: str) -> Path:
        path = self.home / relative
        path.write_text(text)
        shutil.chown(path, self.name, self.name)
        return path


def _copy_checkout(dest: Path, owner: str) -> None:
    """The project's tracked files as they are in this working tree (CI: a clean clone), owned by `owner`."""
    files = sh("git", "-C", str(REPO), "ls-files", "-z").stdout.split("\0")
    dest.mkdir(parents=True)
    for rel in filter(None, files):
        src = REPO / rel
        if src.exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    sh("git", "init", "-q", str(dest))
    sh("chown", "-R", f"{owner}:{owner}", str(dest))


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    """A fresh non-root user in the docker group with a copy of the project in their home."""
    artifacts = prepare.setup()  # root's own set-up (offline here): the machine an admin prepared
    if shutil.which("userdel") and subprocess.run(["id", USER], capture_output=True).returncode == 0:
        sh("userdel", "-r", "-f", USER, check=False)
    sh("useradd", "-m", "-s", "/bin/bash", "-G", "docker", USER)
    home = Path(pwd.getpwnam(USER).pw_dir)
    checkout = home / "edgelab"
    _copy_checkout(checkout, USER)
    # kind and kubectl of the pinned versions in the user's ~/.local/bin, as a user would install them
    bindir = home / ".local" / "bin"
    bindir.mkdir(parents=True)
    for tool in (artifacts.kind, artifacts.kubectl):
        shutil.copy2(tool, bindir / tool.name)
    sh("chown", "-R", f"{USER}:{USER}", str(home / ".local"))
    transcript = tmp_path_factory.mktemp("users") / "transcript.txt"
    say(f"transcript of the user's commands: {transcript}")
    u = User(USER, home, checkout, {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin"}, transcript)
    u.run("id && docker info --format '{{.ServerVersion}}'")
    yield u
    for store in ("9301", "9302"):
        u.run(f".venv/bin/edgelab down --store {store}", check=False, timeout=300)
    sh("userdel", "-r", "-f", USER, check=False)


# --- the registry that stands in for the internet ------------------------------------------------------


@dataclass
class Registry:
    port: int
    gateway: str
    logs: list[Path]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_kind_network() -> str:
    if engine.kind_network_gateway() is None:  # kind makes it with its first cluster; the same options
        sh("docker", "network", "create", "-d", "bridge", "-o", "com.docker.network.bridge.enable_ip_masquerade=true",
           "-o", "com.docker.network.driver.mtu=1500", "kind")
    gateway = engine.kind_network_gateway()
    assert gateway, "no IPv4 gateway on Docker's kind network"
    return gateway


def _pip_standin(work: Path, base: str, ref: str) -> None:
    """`python:3.11-slim` as the mirror holds it: our python base plus pip (unpacked from its wheel), no PEP 668 marker."""
    wheels = work / "pipwheel"
    sh(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(wheels), "pip")
    context = work / "python-context"
    (context / "site").mkdir(parents=True)
    with zipfile.ZipFile(next(wheels.glob("pip-*.whl"))) as z:
        z.extractall(context / "site")
    # python.org's build in the stock image has no PEP 668 marker; Debian's python3 has one
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY site/ /usr/local/lib/python3.11/dist-packages/\n"
                                        "RUN rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED\n")
    sh("docker", "build", "--network", "none", "-t", ref, str(context), env={**os.environ, "DOCKER_BUILDKIT": "0"})


def _node_standin(node_image: str, ref: str, addons: list[str]) -> None:
    """`kindest/node` as the mirror holds it: our node image without the add-on images, so nodes pull them."""
    cid = sh("docker", "run", "-d", "--privileged", "--entrypoint", "sleep", node_image, "infinity").stdout.strip()
    try:
        sh("docker", "exec", "-d", cid, "containerd")
        sh("docker", "exec", cid, "sh", "-c", CONTAINERD_UP)
        listed = sh("docker", "exec", cid, "ctr", "-n", "k8s.io", "images", "list", "-q").stdout.split()
        doomed = [r for r in listed if any(r == a or r.startswith(a.split("@")[0]) for a in addons)]
        assert doomed, f"the node image holds none of {addons}: {listed}"
        sh("docker", "exec", cid, "ctr", "-n", "k8s.io", "images", "rm", *doomed)
        sh("docker", "exec", cid, "pkill", "containerd")
        sh("docker", "exec", cid, "sh", "-c", CONTAINERD_DOWN)
        sh("docker", "commit", "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]', cid, ref)
    finally:
        sh("docker", "rm", "-f", "-v", cid, check=False)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if not shutil.which("docker-registry"):
        say("installing Debian's docker-registry (the stand-in for the internet's registries)")
        sh("apt-get", "install", "-y", "-qq", "docker-registry", env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
           timeout=300)
    work = tmp_path_factory.mktemp("registry")
    gateway = _ensure_kind_network()
    port = _free_port()
    procs, logs = [], []
    for addr in ("127.0.0.1", gateway):  # the host's Docker pulls from loopback; the nodes reach the gateway
        config = work / f"config-{addr}.yml"
        config.write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "info", "formatter": "text"},
            "storage": {"filesystem": {"rootdirectory": str(work / "data")}, "delete": {"enabled": True}},
            "http": {"addr": f"{addr}:{port}"},
        }))
        log = work / f"registry-{addr}.log"
        logs.append(log)
        procs.append(subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log.open("wb"),
                                      stderr=subprocess.STDOUT, start_new_session=True))
    reg = Registry(port, gateway, logs)
    try:
        try:
            poll("the stand-in registry on both addresses", lambda: machine.registry_answers(f"http://{reg.host}", 2)
                 and machine.registry_answers(f"http://{gateway}:{port}", 2), 30, interval=0.5)
        except ClusterError as exc:
            raise AssertionError(f"{exc}: {reg.requests()[-2000:]}") from exc
        p = pins.load()
        addons = ["docker.io/cloudnativelabs/kube-router:" + p.kube_router,
                  "registry.k8s.io/metrics-server/metrics-server:" + p.metrics_server]
        pushed = {
            f"{reg.host}/kindest/node:{p.kubernetes}": None,
            f"{reg.host}/library/python:3.11-slim": None,
            f"{reg.host}/cloudnativelabs/kube-router:{p.kube_router}": addons[0],
            f"{reg.host}/metrics-server/metrics-server:{p.metrics_server}": addons[1],
        }
        _node_standin(p.offline_node_image, f"{reg.host}/kindest/node:{p.kubernetes}", addons)
        _pip_standin(work, p.python_base_image, f"{reg.host}/library/python:3.11-slim")
        for ref, src in pushed.items():
            if src:
                sh("docker", "tag", src, ref)
            say(f"pushing {ref}")
            sh("docker", "push", ref, timeout=900)
            sh("docker", "rmi", ref)  # the user's pull must come from the registry
        yield reg
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


# --- one lab, played as the user -----------------------------------------------------------------------


def _fill_pods(command: str, pods: list[str]) -> str:
    """`<pos-backend pod>` in a rubric command → a real pod of that workload."""
    return re.sub(r"<([a-z0-9-]+) pod>", lambda m: next((p for p in pods if p.startswith(m.group(1) + "-")),
                                                         m.group(1)), command)


def play_lab(u: User, store: str) -> dict[str, object]:
    """Investigate the running lab with the learner's kubectl (as the user), submit, return the graded result."""
    state = u.home / ".local" / "state"
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(state)  # read the user's lab state; root writes nothing there
    try:
        from edgelab.labs import session

        run = session.running(store)
        assert run is not None and run.lab == LAB, run
        lab = labs.get(LAB)
        exp = grading.expected(lab, run.attempt)
        learner = storelib.paths(store).learner_kubeconfig
    finally:
        if old is None:
            os.environ.pop("XDG_STATE_HOME")
        else:
            os.environ["XDG_STATE_HOME"] = old
    # the rubric's commands, as the learner, until one shows the evidence

    def as_learner(command: str) -> str:
        """A rubric command as the user with the learner's kubeconfig, `<x pod>` filled in; what it printed."""
        ns = re.search(r"-n (\S+)", command)
        pods = u.run(f"kubectl --kubeconfig {learner} get pods -n {ns.group(1) if ns else 'default'} -o name",
                     check=False).stdout.split() if "<" in command else []
        command = _fill_pods(command, [p.split("/")[1] for p in pods])
        out = u.run(command.replace("kubectl ", f"kubectl --kubeconfig {learner} ", 1), check=False)
        return out.stdout + out.stderr

    symptom = grading.symptom(lab, run.attempt)

    def shown() -> str:
        """One pass over the rubric; the first line of kubectl output that shows the evidence, or "".

        kubectl's own rows (`payment-processor 0/0`) rather than log lines: `kubectl logs` also shows lines a
        pod logged before the lab began, which `lab submit` does not take as this incident's evidence.
        """
        lines = [line for step in exp["rubric"] for line in as_learner(step["command"]).splitlines()]
        return next((ln.strip() for ln in lines if evidence.judge(ln, symptom, None).form == "kubectl"
                     and evidence.judge(ln, symptom, None).counts), "")

    quote = poll("the rubric's commands to show the evidence", shown, 180, interval=3)
    for step in exp["rubric"]:  # every step once more, after the evidence
        as_learner(step["command"])
    f = exp["findings"]
    findings = {"namespace": f["namespace"], "workload": f["workload"], "pod_state": f["pod_state"][0],
                "root_cause": f["root_cause"][0], "evidence": [quote]}
    path = u.write("findings.yaml", yaml.safe_dump(findings))
    out = u.run(f".venv/bin/edgelab lab submit --store {store} --findings {path} --json", check=False)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _missed(result: dict[str, object]) -> str:
    lines = result.get("lines") or []
    assert isinstance(lines, list)
    return json.dumps([line for line in lines if not line.get("ok", True)] or result, indent=1)[:4000]


def test_online_through_a_registry_mirror_as_a_docker_group_user(user: User, registry: Registry) -> None:
    u, reg = user, registry
    before = host_snapshot()
    env = {"EDGELAB_SYSTEM_DIR": str(u.home / "no-admin-setup"),  # a user's machine: nothing an admin prepared
           "EDGELAB_NODE_IMAGE": f"kindest/node:{pins.load().kubernetes}", "EDGELAB_PYTHON_IMAGE": "python:3.11-slim"}
    # kubectl v1.32 in /usr/bin must not be used: the user's own v1.34 in ~/.local/bin is found first,
    # and with it alone removed, setup says why it does not take /usr/bin's
    setup = u.run(f"make setup SETUP_ARGS='--online --registry-mirror {reg.host}'", env=env)
    assert "online" in setup.stdout + setup.stderr
    record = json.loads((u.home / ".config" / "edgelab" / "setup.json").read_text())
    assert record["mode"] == "online" and record["registry_mirror"] == reg.host, record
    assert record["node_image"] == f"{reg.host}/kindest/node:{pins.load().kubernetes}"
    assert record["kubectl"] == str(u.home / ".local" / "bin" / "kubectl")
    base = json.loads(sh("docker", "image", "inspect", pins.load().fault_operator_image).stdout)[0]
    assert base["Config"]["Labels"]["org.opencontainers.image.base.name"] == f"{reg.host}/library/python:3.11-slim"

    u.run("make up STORE=9301 NODES=1", timeout=1200, env=env)
    result = play_lab(u, "9301")
    assert result["passed"] and result["score"] == 100, _missed(result)
    u.run(".venv/bin/edgelab down --store 9301", env=env)

    logged = reg.requests()
    for path in (f"/v2/kindest/node/manifests/{pins.load().kubernetes}", "/v2/library/python/manifests/3.11-slim",
                 "/v2/cloudnativelabs/kube-router/manifests/", "/v2/metrics-server/metrics-server/manifests/"):
        assert path in logged, f"no pull of {path} in the registry's log"
    assert_host_unchanged(before)
    assert_nothing_root_owned(u.home)


def _with(value: str, env: dict[str, str]) -> str:
    """A `with:` value with `${{ env.NAME }}` filled in (the only expression the mapped actions need)."""
    return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], value)


@pytest.mark.timeout(2400)  # a venv, a store made and a lab run, on 2 cores shared with other stores
def test_the_ci_example_workflow_as_a_docker_group_user(user: User, registry: Registry) -> None:
    """examples/github-actions/edgelab-lab.yml, step by step, as the runner's user would run it.

    A workspace laid out as the runner's (the learner's repository in `learner/` with investigate.sh at its
    root, edgelab in `edgelab/`, a copy of the user's checkout without its venv), GitHub's own variables
    (CI, GITHUB_ACTIONS, GITHUB_WORKSPACE, RUNNER_TEMP, GITHUB_ACTOR), the workflow's `env:` with its
    variables answered as a repository would (EDGELAB_SETUP_ARGS = the stand-in registry as the mirror)
    and LAB_STORE = 9301 (the store this module makes and removes; 4523 may be someone's here). Every
    `run:` step runs as written, in order, with `bash --noprofile --norc -eo pipefail` in the workspace,
    skipped or run by its `if:` as GitHub would. `uses:` steps map to local equivalents: checkout -> the
    copies above; setup-python -> the system python3, of the version asked; the JUnit publisher -> the
    report parsed, one passed testcase; upload-artifact -> the file exists.

    Not run here (no GitHub): the actions themselves (checkout's clone, setup-python's download, the
    check run and summary the publisher makes, the artifact upload), the `vars` expressions, and, as in
    the first test, the stock images and the kind/kubectl downloads (the registry stand-in; the user's
    own pinned kind and kubectl in ~/.local/bin).
    """
    u, reg = user, registry
    wf = ghworkflow.load()
    before = host_snapshot()
    workspace = u.home / "work" / "learner-repo" / "learner-repo"
    temp = u.home / "work" / "_temp"
    temp.mkdir(parents=True)
    workspace.mkdir(parents=True)
    sh("chown", "-R", f"{USER}:{USER}", str(u.home / "work"))
    github = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp),
              "GITHUB_ACTOR": u.name}
    env = {**wf.environment({"EDGELAB_REPOSITORY": "OWNER/edgelab", "EDGELAB_REF": "main",
                             "EDGELAB_SETUP_ARGS": f"--online --registry-mirror {reg.host}"}),
           "LAB_STORE": "9301"}
    standins = {"EDGELAB_SYSTEM_DIR": str(u.home / "no-admin-setup"),  # as in the first test: a user's machine
                "EDGELAB_NODE_IMAGE": f"kindest/node:{pins.load().kubernetes}", "EDGELAB_PYTHON_IMAGE": "python:3.11-slim"}
    report = workspace / env["LAB_REPORT"]

    def uses(step: ghworkflow.Step) -> None:
        given = {k: _with(v, env) for k, v in step.with_.items()}
        if step.action == "actions/checkout" and "repository" not in given:  # the learner's repository
            dest = workspace / given["path"]
            dest.mkdir()
            shutil.copy2(ghworkflow.SCRIPT, dest / "investigate.sh")
            (dest / ".github" / "workflows").mkdir(parents=True)
            shutil.copy2(ghworkflow.EXAMPLE, dest / ".github" / "workflows" / "edgelab-lab.yml")
            sh("git", "init", "-q", str(dest))
            sh("chown", "-R", f"{USER}:{USER}", str(dest))
        elif step.action == "actions/checkout":  # edgelab: the user's checkout, as a clone of it would be
            dest = workspace / given["path"]
            shutil.copytree(u.checkout, dest, symlinks=True,
                            ignore=shutil.ignore_patterns(".venv", "__pycache__", "*.egg-info", ".pytest-kind"))
            sh("chown", "-R", f"{USER}:{USER}", str(dest))
        elif step.action == "actions/setup-python":
            got = u.run("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'").stdout.strip()
            assert got == given["python-version"], f"the system python3 is {got}, the workflow asks for " \
                                                    f"{given['python-version']}"
        elif step.action == "mikepenz/action-junit-report":
            path = workspace / given["report_paths"]
            assert path == report and path.exists(), f"no JUnit report at {path}"
            cases = ET.parse(path).getroot().iter("testcase")
            outcomes = [[c.tag for c in case if c.tag in ("failure", "error", "skipped")] for case in cases]
            assert outcomes == [[]], f"one passed testcase expected: {outcomes}\n{path.read_text()[:3000]}"
        elif step.action == "actions/upload-artifact":  # the report, the run's folder with the script's stderr
            for path in given["path"].split():
                assert (workspace / path).exists(), f"nothing at {path} to upload"
            assert (workspace / "edgelab-run" / "stderr").is_file() and \
                "findings written to" in (workspace / "edgelab-run" / "stderr").read_text()
        else:
            raise AssertionError(f"no local equivalent for {step.uses}")

    failed: list[str] = []
    times: dict[str, float] = {}
    for step in wf.steps:
        if not step.runs(failed=bool(failed)):
            say(f"workflow: skipped {step.name!r} (if: {step.if_})")
            continue
        start, ok = time.monotonic(), False
        try:
            if step.run is None:
                uses(step)
            else:
                script = temp / f"step-{step.index}.sh"
                script.write_text(step.run)
                shutil.chown(script, USER, USER)
                proc = u.run(f"cd {shlex.quote(str(workspace))} && {shlex.join(ghworkflow.BASH)} {script}",
                             timeout=1800, check=False, env={**standins, **github, **env, **step.env})
                assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            ok = True
        except AssertionError as exc:
            failed.append(f"{step.name}: {exc}")
        times[step.name] = time.monotonic() - start
        say(f"workflow: {step.name!r} {'done' if ok else 'failed'} in {times[step.name]:.0f} s")
    say(f"workflow: {sum(times.values()):.0f} s in all; " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    assert not failed, "\n".join(failed)
    clusters = u.run("kind get clusters", env=standins)
    assert "store-9301" not in clusters.stdout.split(), clusters.stdout  # the teardown step ran
    assert_host_unchanged(before)
    assert_nothing_root_owned(u.home)


def test_a_lab_machine_prepared_once_by_root(user: User) -> None:
    u = user
    assert machine.system_record_path().exists(), "root's offline set-up wrote no machine-wide record"
    u.run("rm -rf ~/.config/edgelab")
    before = host_snapshot()
    setup = u.run("make setup")
    assert "offline" in setup.stdout + setup.stderr, setup.stdout + setup.stderr
    u.run("make up STORE=9302 NODES=1", timeout=1200)
    result = play_lab(u, "9302")
    assert result["passed"] and result["score"] == 100, _missed(result)
    u.run(".venv/bin/edgelab down --store 9302")
    assert_host_unchanged(before)
    assert_nothing_root_owned(u.home)


@pytest.mark.timeout(300)
def test_a_user_without_docker_access_is_told_what_to_do(user: User) -> None:
    """No permission on the Docker socket: one line saying what to do, and no record made."""
    u = user
    u.run("make .venv/.installed")
    sh("gpasswd", "-d", u.name, "docker")
    try:
        proc = u.run(".venv/bin/edgelab setup --online", check=False, env={"EDGELAB_CONFIG_DIR": str(u.home / "nodocker")})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "no permission to use the Docker socket" in proc.stderr and "usermod -aG docker" in proc.stderr, \
            proc.stderr
        error = " ".join(proc.stderr[proc.stderr.index("error:"):].split())  # one line, wrapped by the console
        assert proc.stderr.count("error:") == 1 and error.endswith("then log in again)"), proc.stderr
        assert not (u.home / "nodocker").exists()
        doctor = u.run(".venv/bin/edgelab doctor --json", check=False, env={"EDGELAB_CONFIG_DIR": str(u.home / "nodocker")})
        checks = {c["name"]: c for c in json.loads(doctor.stdout)}
        assert doctor.returncode == 1 and not checks["docker"]["ok"] and "usermod" in checks["docker"]["fix"], checks
    finally:
        sh("gpasswd", "-a", u.name, "docker")


@pytest.mark.timeout(300)
def test_a_mirror_that_does_not_answer_stops_setup_and_records_nothing(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from edgelab.cli import app

    monkeypatch.setenv("EDGELAB_CONFIG_DIR", str(tmp_path / "config"))
    result = CliRunner().invoke(app, ["setup", "--online", "--registry-mirror", f"127.0.0.1:{_free_port()}"])
    assert result.exit_code == 1, result.output
    assert "does not answer" in result.output and "--registry-mirror ''" in result.output, result.output
    assert not (tmp_path / "config").exists()
