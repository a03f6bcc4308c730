"""The operator's manifests: its image is the pinned one, and its rights stay narrow."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from unitpaths import REPO

from edgelab.base import pins

OPERATOR = REPO / "manifests" / "operator" / "operator.yaml"


def objects() -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(OPERATOR.read_text()) if o]


def test_operator_and_agent_images_are_the_pinned_one() -> None:
    workloads = [o for o in objects() if o["kind"] in ("Deployment", "DaemonSet")]
    assert [w["metadata"]["name"] for w in workloads] == ["fleet-agent", "node-agent"]
    for w in workloads:
        assert w["spec"]["template"]["spec"]["containers"][0]["image"] == pins.load().fault_operator_image


TELLS = re.compile(r"edgelab|\bfaults?\b|chaos|\binject|\blabs?\b", re.IGNORECASE)


def test_nothing_a_learner_can_read_of_the_machinery_names_the_lab() -> None:
    """Learners read these pods and the Deployment whole (`get pods|deploy -A -o yaml`, which
    includes kubectl's last-applied copy of the manifest): names, labels, annotations, env, command."""
    for w in (o for o in objects() if o["kind"] in ("Deployment", "DaemonSet", "Namespace")):
        text = yaml.safe_dump(w)
        assert not TELLS.search(text), f"{w['kind']} {w['metadata']['name']}: {TELLS.findall(text)}"
    for launcher in (OPERATOR.parents[2] / "operator" / "bin").iterdir():
        assert launcher.stat().st_mode & 0o111, f"{launcher} must be executable (the image runs it)"


def test_the_machinery_may_not_post_events() -> None:
    """Learners read events in every namespace: a Fault must never be the subject of one."""
    for role in (o for o in objects() if o["kind"] in ("Role", "ClusterRole")):
        for rule in role["rules"]:
            assert "events" not in rule["resources"], f"{role['metadata']['name']}: {rule}"


def test_writes_are_granted_only_in_store_namespaces_and_its_own() -> None:
    objs = objects()
    cluster_roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ClusterRole"}
    bound_cluster_wide = {o["roleRef"]["name"] for o in objs if o["kind"] == "ClusterRoleBinding"}
    for name in bound_cluster_wide:
        verbs = {v for rule in cluster_roles[name]["rules"] for v in rule["verbs"]}
        assert verbs <= {"get", "list", "watch"}, f"{name} is bound cluster-wide with {verbs}"
    store_bindings = {o["metadata"]["namespace"] for o in objs
                      if o["kind"] == "RoleBinding" and o["roleRef"]["name"] == "byteedge:fleet-agent:store"}
    assert store_bindings == {"pos", "payment", "order", "observability"}


def test_the_operator_runs_unprivileged_and_never_on_a_worker() -> None:
    spec = next(o for o in objects() if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    # a node-failure fault stops a worker's kubelet: the operator must not be on it
    assert "node-role.kubernetes.io/control-plane" in spec["nodeSelector"]


def test_the_crd_and_the_code_name_the_fault_resource_alike() -> None:
    import edgelab_operator as op

    crd = yaml.safe_load((OPERATOR.parent / "crd.yaml").read_text())
    assert (crd["spec"]["group"], crd["spec"]["names"]["plural"]) == (op.GROUP, op.PLURAL)
    assert [v["name"] for v in crd["spec"]["versions"] if v["storage"]] == [op.VERSION]
    deploy = next(o for o in objects() if o["kind"] == "Deployment")
    assert deploy["metadata"]["namespace"] == op.NAMESPACE


def test_the_operator_turns_kopfs_event_posting_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf posts events about the objects it handles (Faults) unless told not to."""
    import kopf

    from edgelab_operator import handlers

    monkeypatch.setattr(handlers, "engine", lambda: None)  # no cluster here
    settings = kopf.OperatorSettings()
    assert settings.posting.enabled  # kopf's default
    handlers.configure(settings=settings)
    assert settings.posting.enabled is False
