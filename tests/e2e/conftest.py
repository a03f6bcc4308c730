"""The real stores the e2e tests share, one lane each (tests/conftest.py runs the lanes side by side):

- `store3` (9105, 3 nodes): the Kubernetes basics (`cluster`), the faults no lab plays, the operator's
  restarts, the 3-node store checks (lane "faults");
- `lab_store3` (9106, 3 nodes) and `lab_store1` (9107, 1 node): the lab attempts, each also its fault's
  test (lanes "labs" and "labs1");
- `store1` (9101, 1 node, made after a Ctrl-C half-way through `up`): the 1-node store checks, the store
  coming back, the agent runs (lane "one");
- `class_store` (9120, 1 node on a class network): responders and the drill (lane "class").

Each is made once per run (or reused when kept with EDGELAB_KEEP_STORE=1), within a deadline that fails
with a stack, not a CI kill. Tests that need a cluster of another shape make their own (the
learner-access cluster with pytest-kind's `KindCluster`, the users' machines).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import prepared
import pytest
import yaml
from kubernetes import client, config
from waiting import time_limit

from edgelab.machine.record import Artifacts

STORE_UP_S = 900  # a store made while the other lanes make theirs, on 2 cores: measured ~2-4 min

# in every store's nodes; python3 and coreutils, each test pod gives its command
TEST_IMAGE = yaml.safe_load((Path(__file__).parents[2] / "manifests" / "store" / "images.yaml").read_text())[
    "pos-backend"]


@dataclass
class E2ECluster:
    name: str
    kubeconfig: Path
    control_plane: str
    workers: list[str]
    test_image: str
    artifacts: Artifacts

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.artifacts.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def docker_exec(self, node: str, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "exec", node, *cmd], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="session")
def cluster(store3: str) -> E2ECluster:
    """The cluster under the shared 3-node store: the Kubernetes basics are checked on it too, in namespaces of
    their own (`namespace`), so the suite makes one 3-node cluster, not two."""
    from edgelab.store import stores as storelib

    artifacts = prepared.artifacts()
    name = storelib.cluster_name(store3)
    nodes = storelib.node_containers(name)
    return E2ECluster(
        name=name,
        kubeconfig=storelib.paths(store3).admin_kubeconfig,
        control_plane=f"{name}-control-plane",
        workers=sorted(n for n in nodes if "-worker" in n),
        test_image=TEST_IMAGE,
        artifacts=artifacts,
    )


@pytest.fixture(scope="session")
def api_client(cluster: E2ECluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def networking(api_client: client.ApiClient) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    name = f"e2e-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name, "labels": {"created-by": "edgelab-tests"}}})
    yield name
    core.delete_namespace(name, grace_period_seconds=0)


def _shared_store(store_id: str, nodes: int) -> Iterator[str]:
    """A store made once (or a kept one reused), and brought down at the end unless EDGELAB_KEEP_STORE=1."""
    from edgelab.store import stores as storelib

    artifacts = prepared.artifacts()
    with prepared.store_slot(f"store {store_id}"), time_limit(STORE_UP_S, f"store {store_id} ({nodes} node(s)) up"):
        storelib.up(store_id, nodes, None, artifacts,
                    say=lambda m: print(f"[store {store_id}] {m}", file=sys.__stderr__, flush=True))
    try:
        yield store_id
    finally:
        if os.environ.get("EDGELAB_KEEP_STORE") != "1":
            storelib.down(store_id, artifacts)


@pytest.fixture(scope="session")
def store3() -> Iterator[str]:
    """The 3-node store of the basics, the faults no lab plays and the operator tests (EDGELAB_FAULT_STORE,
    default 9105)."""
    yield from prepared.held_until_lane_ends(
        "store3", lambda: _shared_store(os.environ.get("EDGELAB_FAULT_STORE", "9105"), 3))


@pytest.fixture(scope="session")
def lab_store3() -> Iterator[str]:
    """The 3-node lab store (EDGELAB_LAB_STORE, default 9106)."""
    yield from prepared.held_until_lane_ends(
        "lab_store3", lambda: _shared_store(os.environ.get("EDGELAB_LAB_STORE", "9106"), 3))


@pytest.fixture(scope="session")
def lab_store1() -> Iterator[str]:
    """The 1-node lab store (EDGELAB_SMALL_LAB_STORE, default 9107)."""
    yield from prepared.held_until_lane_ends(
        "lab_store1", lambda: _shared_store(os.environ.get("EDGELAB_SMALL_LAB_STORE", "9107"), 1))


ONE_NODE_STORE = os.environ.get("EDGELAB_ONE_NODE_STORE", "9101")  # test_store.py's 1-node store
HALF_WAY = "deploying the store"  # in `up`'s output: the cluster exists, the workloads are on their way


def ctrl_c_reaches_it() -> None:
    """`preexec_fn` of a child a test will Ctrl-C: SIGINT back to its default.

    A suite started in the background of a script (`cmd &` without job control) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler: the child would never see it.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_half_way_through_up(store: str) -> None:
    """A real SIGINT (Ctrl-C) to the real CLI while it deploys the store onto a cluster that already exists."""
    import os
    import signal
    import subprocess

    edgelab = str(Path(sys.executable).with_name("edgelab"))
    proc = subprocess.Popen([edgelab, "up", "--store", store, "--nodes", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=ctrl_c_reaches_it)
    seen: list[str] = []
    rest = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if HALF_WAY in line:
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail(f"`up` ended before {HALF_WAY!r}: {''.join(seen)[-2000:]}")
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, f"an interrupted `up` must not claim success: {''.join(seen)[-2000:]}{rest}"


@pytest.fixture(scope="session")
def store1() -> Iterator[str]:
    yield from prepared.held_until_lane_ends("store1", _store1)


def _store1() -> Iterator[str]:
    """A real 1-node store (the smallest profile) for test_store.py and test_store_comes_back.py.

    Made the way a user meets it: a real Ctrl-C half-way through `edgelab up` (which must
    leave nothing behind), then `edgelab up` again through the CLI; brought down through the
    CLI at the end, which must remove every node and the store's state.
    """
    from typer.testing import CliRunner

    from edgelab.cli import app
    from edgelab.store import stores as storelib

    runner, store = CliRunner(), ONE_NODE_STORE
    prepared.artifacts()  # the machine's images settled (and set up, under a bare pytest)
    runner.invoke(app, ["down", "--store", store])
    with prepared.store_slot(f"store {store}"), time_limit(STORE_UP_S, f"store {store}: a Ctrl-C half-way through `up`"):
        interrupt_half_way_through_up(store)
    assert storelib.node_containers(storelib.cluster_name(store)) == [], "an interrupted `up` left its store"
    try:
        with prepared.store_slot(f"store {store}"), time_limit(STORE_UP_S, f"store {store} up after the Ctrl-C"):
            made = runner.invoke(app, ["up", "--store", store, "--nodes", "1", "--json"])
        assert made.exit_code == 0, f"`up` after a Ctrl-C failed: {made.stdout[-3000:]}"
        yield store
    finally:
        gone = runner.invoke(app, ["down", "--store", store])
    assert gone.exit_code == 0, gone.stdout
    assert storelib.node_containers(storelib.cluster_name(store)) == [], "`down` left node containers"
    assert not storelib.paths(store).root.exists(), "`down` left the store's state"
    after = runner.invoke(app, ["status", "--store", store, "--json"])
    assert after.exit_code == 1 and not json.loads(after.stdout)[0]["exists"], after.stdout


# --- a store on the class network (instructor drills) ------------------------------------------------


@dataclass
class ClassStore:
    """A 1-node store whose API server answers on `address`, and "another machine on the class network": the
    network namespace `netns`, reaching this machine only through a veth pair, as `peer`."""

    store: str
    address: str  # this machine's end of the veth pair: the store's `up --listen`
    peer: str  # the other machine's address
    netns: str
    artifacts: Artifacts

    def in_class(self, *cmd: str, timeout: float = 60, input_text: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
        """Run `cmd` on the other machine (inside the network namespace)."""
        return subprocess.run(["ip", "netns", "exec", self.netns, *cmd], capture_output=True, text=True,
                              timeout=timeout, check=False, input=input_text)

    def kubectl_in_class(self, kubeconfig: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Our kubectl run on the other machine with `kubeconfig` (TLS verified against the store's CA)."""
        return self.in_class(str(self.artifacts.kubectl), "--kubeconfig", str(kubeconfig), *args, timeout=timeout)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()} (needs root and iproute2)")
    return proc


def _remove_class_network(netns: str, host_if: str) -> None:
    """Safe to repeat: deleting the namespace deletes its end of the pair, and with it ours."""
    _ip("netns", "delete", netns, check=False)
    _ip("link", "delete", host_if, check=False)


@pytest.fixture(scope="session")
def class_store() -> Iterator[ClassStore]:
    yield from prepared.held_until_lane_ends("class_store", _class_store)


def _class_store() -> Iterator[ClassStore]:
    """A real 1-node store (id from EDGELAB_CLASS_STORE, default 9120) made with `edgelab up --listen` on this
    machine's end of a veth pair whose other end is in a network namespace: the class's other machine.

    The pair's /30 (10.213.<id % 256>.0/30: .1 here, .2 there) is private and on this machine only; the
    namespace gets no default route, so nothing from it can go anywhere but to this machine's .1, and no
    iptables rule is added. Store, namespace and pair are removed at the end, also when something fails.
    """
    import os

    from typer.testing import CliRunner

    from edgelab.cli import app
    from edgelab.store import stores as storelib

    store = os.environ.get("EDGELAB_CLASS_STORE", "9120")
    net = f"10.213.{int(store) % 256}"
    cs = ClassStore(store, f"{net}.1", f"{net}.2", f"edgelab-class-{store}", prepared.artifacts())
    host_if, peer_if = f"elc{store}h", f"elc{store}p"
    runner = CliRunner()
    runner.invoke(app, ["down", "--store", store])  # a store left by an interrupted run
    _remove_class_network(cs.netns, host_if)
    try:
        _ip("netns", "add", cs.netns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if, "netns", cs.netns)
        _ip("addr", "add", f"{cs.address}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", cs.netns, "link", "set", "lo", "up")
        _ip("-n", cs.netns, "addr", "add", f"{cs.peer}/30", "dev", peer_if)
        _ip("-n", cs.netns, "link", "set", peer_if, "up")
        routes = _ip("-n", cs.netns, "-4", "route", "show").stdout.strip().splitlines()
        assert routes == [f"{net}.0/30 dev {peer_if} proto kernel scope link src {cs.peer}"], routes
        print(f"[edgelab] store {store} on {cs.address}, class machine {cs.peer} in netns {cs.netns}",
              file=sys.__stderr__, flush=True)
        with prepared.store_slot(f"store {store}"), time_limit(STORE_UP_S, f"store {store} up on {cs.address}"):
            made = runner.invoke(app, ["up", "--store", store, "--nodes", "1", "--listen", cs.address, "--json"])
        assert made.exit_code == 0, f"`up --listen {cs.address}` failed: {made.output[-3000:]}"
        yield cs
    finally:
        gone = runner.invoke(app, ["down", "--store", store])
        _remove_class_network(cs.netns, host_if)
    assert gone.exit_code == 0, gone.output
    assert storelib.node_containers(storelib.cluster_name(store)) == [], "`down` left node containers"
    assert cs.netns not in _ip("netns", "list").stdout, "the class machine's namespace is left"
    assert _ip("link", "show", host_if, check=False).returncode != 0, "the veth pair is left"
