"""The offline build's step graph and the pure helpers beside it."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from edgelab.base.pins import Pins
from edgelab.machine.offline.pipeline import Step
from edgelab.machine.offline.steps import all_steps, image_names, k8s_ldflags, storage_manifest

KIND_MODULE = Path("/root/go/pkg/mod/sigs.k8s.io/kind@v0.30.0")


@pytest.fixture(scope="module")
def steps(pins: Pins) -> dict[str, Step]:
    listed = all_steps(pins)
    by_name = {s.name: s for s in listed}
    assert len(by_name) == len(listed), "step names are not unique"
    return by_name


def test_image_names_cover_what_kubeadm_1_34_asks(pins: Pins) -> None:
    names = set(image_names(pins).values())
    kubeadm_list = {
        "registry.k8s.io/kube-apiserver:v1.34.4",
        "registry.k8s.io/kube-controller-manager:v1.34.4",
        "registry.k8s.io/kube-scheduler:v1.34.4",
        "registry.k8s.io/kube-proxy:v1.34.4",
        "registry.k8s.io/coredns/coredns:v1.12.1",
        "registry.k8s.io/pause:3.10.1",
        "registry.k8s.io/etcd:3.6.5-0",
    }
    assert kubeadm_list <= names
    assert "registry.k8s.io/pause:3.10" in names  # kind's containerd sandbox image


def test_every_dep_exists(steps: dict[str, Step]) -> None:
    dangling = {(s.name, d) for s in steps.values() for d in s.deps if d not in steps}
    assert dangling == set()


def test_step_graph_has_no_cycles(steps: dict[str, Step]) -> None:
    # Kahn's algorithm: every step must be removable
    remaining = {n: set(s.deps) for n, s in steps.items()}
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps]
        assert ready, f"cycle among {sorted(remaining)}"
        for n in ready:
            del remaining[n]
        for deps in remaining.values():
            deps.difference_update(ready)


def test_node_image_depends_on_every_image_step(steps: dict[str, Step]) -> None:
    img_steps = {n for n in steps if n.startswith("img-")}
    assert img_steps
    assert img_steps <= set(steps["node-image"].deps)


def test_every_node_image_name_is_tagged_by_some_step(pins: Pins, steps: dict[str, Step]) -> None:
    tagged = {t for s in steps.values() for t in s.tags}
    assert set(image_names(pins).values()) - tagged == set()


def test_k8s_ldflags_stamp_the_version(pins: Pins) -> None:
    words = shlex.split(k8s_ldflags(pins))
    stamps = dict(w.split("=", 1) for prev, w in zip(words, words[1:], strict=False) if prev == "-X")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert stamps[f"{pkg}.gitVersion"] == "v1.34.4"
        assert stamps[f"{pkg}.gitMajor"] == "1"
        assert stamps[f"{pkg}.gitMinor"] == "34"
        assert stamps[f"{pkg}.gitTreeState"] == "clean"


@pytest.mark.skipif(not KIND_MODULE.is_dir(), reason=f"developer-machine check: needs kind's module source at {KIND_MODULE}")
def test_storage_manifest_parses_and_names_pinned_images(pins: Pins) -> None:
    text = storage_manifest(KIND_MODULE, pins)
    docs = [d for d in yaml.safe_load_all(text) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "StorageClass", "ConfigMap"} <= kinds
    assert "storageProvisionerImage" not in text and "storageHelperImage" not in text
    assert pins.kind_storage_provisioner_image in text
    assert pins.kind_storage_helper_image in text
