"""Personal responders on a store that answers on the class network (conftest's `class_store`).

The store is made with `edgelab up --listen` on this machine's end of a veth pair; every responder request
here is made from the other end, a network namespace standing in for another machine of the class, with
our kubectl and the responder's own kubeconfig (TLS verified against the store's CA; nothing skips it).
Checked: the responder works from there under their own name, the serving certificate names the address,
each responder's requests are in the audit trail under their user (and come from the other machine),
a responder meets the learner's refusals, `remove` takes access away while others keep theirs, and the
CLI refuses hostile names. The removal test runs last: it changes what the others rely on.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner
from waiting import Unmet, wait_for

from conftest import ClassStore
from edgelab.cli import app
from edgelab.kube import audit, learner
from edgelab.kube.cluster import Kubectl
from edgelab.store import layout, responders
from edgelab.store import stores as storelib

runner = CliRunner()


@dataclass
class Drill:
    cs: ClassStore
    kubeconfigs: dict[str, Path]
    admin: Kubectl
    started: datetime

    def as_(self, who: str, *args: str) -> Any:
        return self.cs.kubectl_in_class(self.kubeconfigs[who], *args)

    def allowed(self, who: str, *args: str) -> str:
        proc = self.as_(who, *args)
        assert proc.returncode == 0, f"{who}: `kubectl {' '.join(args)}` failed: {proc.stderr}"
        return str(proc.stdout)

    def refused(self, who: str, *args: str) -> str:
        proc = self.as_(who, *args)
        assert proc.returncode != 0, f"{who}: `kubectl {' '.join(args)}` should be refused: {proc.stdout}"
        assert "forbidden" in proc.stderr.lower(), proc.stderr
        return str(proc.stderr)


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"`edgelab {' '.join(args)}` failed: {result.output[-2000:]}"
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture(scope="module")
def drill(class_store: ClassStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    store = class_store.store
    started = datetime.now(UTC)
    alice = cli("responder", "add", "alice", "--store", store, "--json")
    bob = cli("responder", "add", "bob", "--store", store, "--out",
              str(tmp_path_factory.mktemp("bob") / "bob.kubeconfig"), "--json")
    assert not alice["reissued"] and not bob["reissued"]
    yield Drill(class_store, {"alice": Path(alice["kubeconfig"]), "bob": Path(bob["kubeconfig"])},
                Kubectl(class_store.artifacts.kubectl, storelib.paths(store).admin_kubeconfig), started)


@pytest.mark.e2e
@pytest.mark.timeout(1200)
def test_status_names_the_server_on_the_class_address_and_the_responders(drill: Drill) -> None:
    (st,) = cli("status", "--store", drill.cs.store, "--json")
    assert st["healthy"], st["unhealthy"]
    assert st["listen"] == drill.cs.address
    assert st["server"].startswith(f"https://{drill.cs.address}:"), st["server"]
    shown = {r["name"]: r["kubeconfig"] for r in st["responders"]}  # the lead's drill tests may add others
    assert {n: shown.get(n) for n in drill.kubeconfigs} == {n: str(p) for n, p in drill.kubeconfigs.items()}
    p = storelib.paths(drill.cs.store)
    for kubeconfig in (p.admin_kubeconfig, p.learner_kubeconfig, *drill.kubeconfigs.values()):
        config = yaml.safe_load(kubeconfig.read_text())
        (cluster,) = config["clusters"]
        assert cluster["cluster"]["server"] == st["server"], kubeconfig
        assert "insecure-skip-tls-verify" not in json.dumps(config), kubeconfig
    for kubeconfig in drill.kubeconfigs.values():
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
    listed = [r["name"] for r in cli("responder", "list", "--store", drill.cs.store, "--json")]
    assert {"alice", "bob"} <= set(listed) and listed == sorted(listed)


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_the_address_is_fixed_for_the_stores_life(drill: Drill) -> None:
    moved = runner.invoke(app, ["up", "--store", drill.cs.store, "--nodes", "1", "--listen", "127.0.0.1"])
    assert moved.exit_code == 1, moved.output
    said = " ".join(moved.output.split())
    assert f"already answers on {drill.cs.address}" in said and f"edgelab down --store {drill.cs.store}" in said
    # `up` again without --listen converges the store and keeps its address
    again = cli("up", "--store", drill.cs.store, "--nodes", "1", "--json")
    assert again["healthy"] and again["listen"] == drill.cs.address
    assert again["server"].startswith(f"https://{drill.cs.address}:")
    assert "pos-frontend" in drill.allowed("alice", "get", "pods", "-n", "pos")


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_responder_works_from_another_machine_of_the_class(drill: Drill) -> None:
    # the other machine reaches this one's class address and nothing else
    assert drill.cs.in_class("ip", "route", "get", "192.0.2.1").returncode != 0
    assert "pos-frontend" in drill.allowed("alice", "get", "pods", "-n", "pos")
    who = json.loads(drill.allowed("alice", "auth", "whoami", "-o", "json"))["status"]["userInfo"]
    assert who["username"] == "alice"
    assert responders.GROUP in who["groups"] and learner.GROUP not in who["groups"]
    assert json.loads(drill.allowed("bob", "auth", "whoami", "-o", "json"))["status"]["userInfo"]["username"] == "bob"


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_the_serving_certificate_names_the_class_address(drill: Drill, tmp_path: Path) -> None:
    config = yaml.safe_load(drill.kubeconfigs["alice"].read_text())
    ca = tmp_path / "ca.pem"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    host_port = config["clusters"][0]["cluster"]["server"].removeprefix("https://")
    # from the other machine, verified against the store's CA and checked to be issued for the IP itself
    proc = drill.cs.in_class("openssl", "s_client", "-connect", host_port, "-CAfile", str(ca), "-verify_ip",
                             drill.cs.address, "-verify_return_error", input_text="")
    assert "Verify return code: 0 (ok)" in proc.stdout, proc.stdout[-1500:] + proc.stderr[-1500:]
    sans = drill.cs.in_class("openssl", "x509", "-noout", "-ext", "subjectAltName", input_text=proc.stdout).stdout
    assert f"IP Address:{drill.cs.address}" in sans, sans


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_each_responders_requests_are_audited_under_their_own_name(drill: Drill) -> None:
    marks = {who: f"drill-{who}-{secrets.token_hex(3)}" for who in ("alice", "bob")}
    for who, mark in marks.items():
        drill.allowed(who, "get", "pods", "-n", "pos", "-l", f"mark={mark}")
    node = layout.control_plane(drill.cs.store)

    def logged(who: str) -> list[dict[str, Any]] | Unmet:
        events = audit.read_node_events(storelib.provider_for(drill.cs.store), node, since=drill.started, user=who)
        mine = [e for e in events if marks[who] in e["requestURI"]]
        return events if mine else Unmet([audit.describe(e) for e in events][-10:])

    for who in marks:
        events = wait_for(lambda who=who: logged(who), timeout=30, interval=1, what=f"{who}'s requests in the audit log")
        other = next(o for o in marks if o != who)
        assert all(audit.username(e) == who for e in events)
        assert not [e for e in events if marks[other] in e["requestURI"]], f"{other}'s request logged as {who}'s"
        assert all(responders.GROUP in e["user"]["groups"] for e in events)
        # from the other machine: the API server sees the class machine's address
        assert {ip for e in events if marks[who] in e["requestURI"] for ip in e["sourceIPs"]} == {drill.cs.peer}


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_responder_meets_the_learners_refusals(drill: Drill) -> None:
    lab = learner.LAB_NAMESPACE
    drill.refused("alice", "get", "secret", "pos-db", "-n", "pos")
    drill.refused("alice", "get", "secrets", "-n", lab)
    drill.refused("alice", "get", "configmaps", "-n", lab)
    drill.refused("alice", "get", "faults", "-A")
    drill.refused("alice", "get", "faults", "-n", lab)
    drill.refused("alice", "create", "clusterrolebinding", "me", "--clusterrole=cluster-admin", "--user=alice")
    assert drill.allowed("alice", "auth", "can-i", "list", "secrets", "-n", "pos").strip() == "yes"
    # the admission policy's refusal with the reason, not RBAC's (server-side dry run: nothing is deleted)
    err = drill.refused("alice", "delete", "deployment", "pos-backend", "-n", "pos", "--dry-run=server")
    assert "hides the outage" in err, err


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_adding_an_existing_responder_reissues(drill: Drill) -> None:
    again = cli("responder", "add", "bob", "--store", drill.cs.store, "--json")
    assert again["reissued"] and again["kubeconfig"] == str(drill.kubeconfigs["bob"])
    said = cli("responder", "add", "bob", "--store", drill.cs.store)
    assert "re-issued" in said
    drill.allowed("bob", "get", "pods", "-n", "pos")


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["../../etc/x", "CN=x,O=system:masters", "bob\nkind: ClusterRole", "learner",
                                  "system-admin", "Alice"])
def test_the_cli_refuses_hostile_names(drill: Drill, name: str) -> None:
    def bound() -> list[str]:
        found = json.loads(drill.admin("get", "clusterrolebindings", "-l", responders.LABEL, "-o", "json").stdout)
        return sorted(b["metadata"]["labels"][responders.LABEL] for b in found["items"])

    def listed() -> list[str]:
        return [r["name"] for r in cli("responder", "list", "--store", drill.cs.store, "--json")]

    before = (listed(), bound())
    assert {"alice", "bob"} <= set(before[0]) and before[0] == before[1]
    result = runner.invoke(app, ["responder", "add", name, "--store", drill.cs.store])
    assert result.exit_code == 1 and "responder name" in result.output, result.output
    assert (listed(), bound()) == before


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_removing_a_responder_takes_their_access_away(drill: Drill, tmp_path: Path) -> None:
    """Last in the module: alice is gone afterwards. She keeps a copy of her kubeconfig, as anyone handed one
    would: `remove` deletes the store's copy, and her certificate cannot be revoked."""
    kept = tmp_path / "alice.kubeconfig"
    kept.write_text(drill.kubeconfigs["alice"].read_text())
    said = cli("responder", "remove", "alice", "--store", drill.cs.store)
    assert "removed responder alice" in said
    assert not drill.kubeconfigs["alice"].exists()
    drill.kubeconfigs["alice"] = kept

    def refused() -> str | Unmet:
        proc = drill.as_("alice", "get", "pods", "-n", "pos")
        return proc.stderr if proc.returncode != 0 and "forbidden" in proc.stderr.lower() else Unmet(proc.stderr)

    err = wait_for(refused, timeout=30, interval=1, what="alice's requests refused")
    assert 'User "alice" cannot list resource "pods"' in err, err
    # her certificate still says who she is (it cannot be revoked); it just grants nothing
    assert json.loads(drill.allowed("alice", "auth", "whoami", "-o", "json"))["status"]["userInfo"]["username"] == "alice"
    drill.refused("alice", "get", "pods", "-A")
    assert "pos-frontend" in drill.allowed("bob", "get", "pods", "-n", "pos")
    left = drill.admin("get", "clusterrolebindings,rolebindings", "-A", "-l", f"{responders.LABEL}=alice", "-o", "name")
    assert left.stdout.strip() == ""
    listed = [r["name"] for r in cli("responder", "list", "--store", drill.cs.store, "--json")]
    assert "alice" not in listed and "bob" in listed

    def audited() -> list[dict[str, Any]] | Unmet:
        events = storelib.audit_events(drill.cs.store, since=drill.started, user="alice")
        denied = [e for e in events if e["responseStatus"]["code"] == 403 and e["verb"] == "list"]
        return denied or Unmet([audit.describe(e) for e in events][-10:])

    wait_for(audited, timeout=30, interval=1, what="alice's refused request in the audit log")
