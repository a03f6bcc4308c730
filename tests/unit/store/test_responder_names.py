"""Responder identities without a cluster: names, bindings, the registry, and add/remove with a fake kubectl
(tests/e2e/test_responders.py runs the real thing)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from edgelab.kube import learner
from edgelab.store import responders
from edgelab.store import stores as storelib

STORE = "9120"


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path


@pytest.mark.parametrize("good", ["alice", "bob", "ops-2", "a", "a" * 30, "sys", "learner2", "adminx"])
def test_plain_names_are_accepted(good: str) -> None:
    assert responders.check_name(good) == good


HOSTILE = ["", "Alice", "../etc", "a/b", "CN=x", "a,b", "a=b", "a b", "a\nb", "a:b", "-a", "1a", "a" * 31, "a.b",
           "a_b", "ali'ce", 'a"b', "a\\b", "a}b", "x; rm -rf /", "ä", "alice\x00", "alice\n", "learner", "admin",
           "kubernetes-admin", "system", "system-masters", "systemd"]


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_names_are_refused(bad: str) -> None:
    with pytest.raises(responders.ResponderError, match="responder name"):
        responders.check_name(bad)


@pytest.mark.parametrize("bad", HOSTILE)
def test_add_refuses_a_hostile_name_before_touching_anything(bad: str, tmp_path: Path) -> None:
    with pytest.raises(responders.ResponderError):
        responders.add(STORE, bad)
    assert not (tmp_path / "state").exists()


def test_bindings_are_per_user_labelled_and_grant_the_learners_roles() -> None:
    docs = responders.bindings("alice")
    roles = {d["metadata"]["name"] for d in yaml.safe_load_all(learner.RBAC.read_text())
             if d and d["kind"] == "ClusterRole"}
    assert [d["kind"] for d in docs] == ["ClusterRoleBinding"] + ["RoleBinding"] * len(learner.STORE_NAMESPACES)
    assert sorted(d["metadata"]["namespace"] for d in docs[1:]) == sorted(learner.STORE_NAMESPACES)
    for d in docs:
        assert d["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]
        assert d["metadata"]["labels"][responders.LABEL] == "alice"
        assert d["roleRef"]["name"] in roles
    assert docs[0]["roleRef"]["name"] == "byteedge:incident-manager:cluster"
    assert {d["roleRef"]["name"] for d in docs[1:]} == {"byteedge:incident-manager:store"}


def test_the_responders_group_has_no_rights_of_its_own() -> None:
    for d in yaml.safe_load_all(learner.RBAC.read_text()):
        if d and "subjects" in d:
            assert all(s["name"] != responders.GROUP for s in d["subjects"])


def test_admission_policy_refuses_the_learners_shortcuts_to_responders_too() -> None:
    (policy, _) = yaml.safe_load_all(learner.SHORTCUTS.read_text())
    (condition,) = policy["spec"]["matchConditions"]
    assert f"'{responders.GROUP}'" in condition["expression"] and f"'{learner.GROUP}'" in condition["expression"]


def fake_kubectl(tmp_path: Path) -> tuple[Path, Path]:
    calls = tmp_path / "calls"
    fake = tmp_path / "kubectl"
    view = {"clusters": [{"name": "kind-x", "cluster": {"server": "https://10.213.7.1:40000",
                                                         "certificate-authority-data": "Q0E="}}]}
    csr = {"status": {"certificate": "Q0VSVA==", "conditions": [{"type": "Approved", "status": "True"}]}}
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        "case \"$1 $2\" in\n"
        f"  'config view') echo '{json.dumps(view)}' ;;\n"
        f"  'get certificatesigningrequest') echo '{json.dumps(csr)}' ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    return fake, calls


@pytest.fixture
def store_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake, calls = fake_kubectl(tmp_path)
    monkeypatch.setattr(responders.record, "current", lambda: SimpleNamespace(kubectl=fake))
    admin = storelib.paths(STORE).admin_kubeconfig
    admin.parent.mkdir(parents=True)
    admin.write_text("{}")
    return calls


def test_add_list_readd_and_remove(store_up: Path, tmp_path: Path) -> None:
    alice = responders.add(STORE, "alice")
    assert alice.user == "alice" and not alice.reissued
    assert alice.kubeconfig == responders.default_kubeconfig(STORE, "alice").resolve()
    assert alice.kubeconfig.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(alice.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://10.213.7.1:40000"
    assert config["users"][0]["name"] == "alice"
    calls = store_up.read_text()
    assert "apply -f" in calls and "create -f" in calls and "certificate approve edgelab-responder-alice" in calls

    bob = responders.add(STORE, "bob", out=tmp_path / "bob.kubeconfig")
    assert bob.kubeconfig == (tmp_path / "bob.kubeconfig").resolve()
    assert [r.name for r in responders.list_(STORE)] == ["alice", "bob"]
    registry = json.loads(responders.registry_path(STORE).read_text())
    assert registry["bob"]["kubeconfig"] == str(bob.kubeconfig) and registry["alice"]["user"] == "alice"

    again = responders.add(STORE, "bob")
    assert again.reissued and again.kubeconfig == bob.kubeconfig  # re-issued where it was

    responders.remove(STORE, "alice")
    assert ("delete clusterrolebindings,rolebindings --all-namespaces -l edgelab.io/responder=alice"
            in store_up.read_text())
    assert "delete certificatesigningrequest edgelab-responder-alice" in store_up.read_text()
    assert not alice.kubeconfig.exists()
    responders.remove(STORE, "bob")
    assert bob.kubeconfig.exists(), "a kubeconfig written to --out is left where it is"
    assert responders.list_(STORE) == []


def test_remove_of_an_unknown_responder_names_the_known_ones(store_up: Path) -> None:
    responders.add(STORE, "alice")
    with pytest.raises(responders.ResponderError, match=r"no responder 'bob' \(responders: alice"):
        responders.remove(STORE, "bob")


def test_a_store_that_is_not_up_is_refused_with_what_to_do() -> None:
    with pytest.raises(storelib.StoreError, match="edgelab up --store 9120"):
        responders.add(STORE, "alice")
    with pytest.raises(storelib.StoreError, match="edgelab up --store 9120"):
        responders.list_(STORE)
