"""The operator's manifests: its image is the pinned one, and its rights stay narrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgelab import pins

OPERATOR = Path(__file__).resolve().parents[2] / "manifests" / "operator" / "operator.yaml"


def objects() -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(OPERATOR.read_text()) if o]


def test_operator_and_agent_images_are_the_pinned_one() -> None:
    deploy = next(o for o in objects() if o["kind"] == "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == env["AGENT_IMAGE"] == pins.load().fault_operator_image


def test_writes_are_granted_only_in_store_namespaces_and_its_own() -> None:
    objs = objects()
    cluster_roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ClusterRole"}
    bound_cluster_wide = {o["roleRef"]["name"] for o in objs if o["kind"] == "ClusterRoleBinding"}
    for name in bound_cluster_wide:
        verbs = {v for rule in cluster_roles[name]["rules"] for v in rule["verbs"]}
        assert verbs <= {"get", "list", "watch"}, f"{name} is bound cluster-wide with {verbs}"
    store_bindings = {o["metadata"]["namespace"] for o in objs
                      if o["kind"] == "RoleBinding" and o["roleRef"]["name"] == "edgelab:fault-operator:store"}
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
