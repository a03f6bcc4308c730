"""Responder identities without a cluster: names, bindings, the registry and where kubeconfigs go
(tests/e2e/test_responders.py issues and removes them on a real store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

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


@pytest.fixture
def store_up() -> None:
    admin = storelib.paths(STORE).admin_kubeconfig
    admin.parent.mkdir(parents=True)
    admin.write_text("{}")


def a_responder(name: str, kubeconfig: Path) -> responders.Responder:
    return responders.Responder(name, name, kubeconfig, datetime(2026, 1, 2, tzinfo=UTC))


def test_the_registry_adds_replaces_lists_and_forgets(store_up: None, tmp_path: Path) -> None:
    alice = a_responder("alice", responders.default_kubeconfig(STORE, "alice"))
    bob = a_responder("bob", tmp_path / "bob.kubeconfig")
    responders._record(STORE, "bob", bob)
    responders._record(STORE, "alice", alice)
    assert responders.list_(STORE) == [alice, bob]
    registry = json.loads(responders.registry_path(STORE).read_text())
    assert list(registry) == ["alice", "bob"] and registry["bob"]["kubeconfig"] == str(bob.kubeconfig)
    assert registry["alice"] == alice.to_json() and registry["alice"]["user"] == "alice"
    assert responders.registry_path(STORE).stat().st_mode & 0o777 == 0o600
    later = a_responder("bob", tmp_path / "bob.kubeconfig")
    responders._record(STORE, "bob", later)
    assert responders.list_(STORE) == [alice, later]
    responders._record(STORE, "alice", None)
    assert responders.list_(STORE) == [later]


def test_the_kubeconfig_goes_to_out_else_where_it_was_else_the_state_folder(store_up: None, tmp_path: Path) -> None:
    default = responders.default_kubeconfig(STORE, "alice").resolve()
    assert responders.kubeconfig_for(STORE, "alice", None, None) == default
    assert responders.kubeconfig_for(STORE, "alice", tmp_path / "a", None) == (tmp_path / "a").resolve()
    before = a_responder("alice", tmp_path / "kept")
    assert responders.kubeconfig_for(STORE, "alice", None, before) == (tmp_path / "kept").resolve()
    assert responders.kubeconfig_for(STORE, "alice", tmp_path / "b", before) == (tmp_path / "b").resolve()
    assert responders.kept_by_the_store(STORE, default)
    assert not responders.kept_by_the_store(STORE, tmp_path / "a"), "a kubeconfig written to --out is left where it is"


def test_remove_of_an_unknown_responder_names_the_known_ones(store_up: None) -> None:
    responders._record(STORE, "alice", a_responder("alice", responders.default_kubeconfig(STORE, "alice")))
    with pytest.raises(responders.ResponderError, match=r"no responder 'bob' \(responders: alice"):
        responders.remove(STORE, "bob")


def test_a_store_that_is_not_up_is_refused_with_what_to_do() -> None:
    with pytest.raises(storelib.StoreError, match="edgelab up --store 9120"):
        responders.add(STORE, "alice")
    with pytest.raises(storelib.StoreError, match="edgelab up --store 9120"):
        responders.list_(STORE)
