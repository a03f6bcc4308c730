"""Each store is itself: the manifests keep a placeholder STORE_ID, and what `up` and a lab's restore
apply carries the store's own id (so its order ids, kitchen screens and POS page say which store)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from edgelab.machine import record as machine
from edgelab.store import stores as storelib


def store_ids(docs: list[dict[str, Any]]) -> dict[str, str]:
    """`ns/name/container` -> its STORE_ID value, for every container of every pod owner."""
    return {f"{d['metadata']['namespace']}/{d['metadata']['name']}/{c['name']}": v["value"]
            for d in docs if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job")
            for c in d["spec"]["template"]["spec"]["containers"]
            for v in c.get("env", []) if v["name"] == "STORE_ID"}


def without_store_id(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(docs)
    for d in out:
        if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                c["env"] = [v for v in c.get("env", []) if v["name"] != "STORE_ID"]
    return out


def everything(store: str) -> list[dict[str, Any]]:
    return [d for _, docs in storelib.rendered_workloads(store) for d in docs]


def raw() -> list[dict[str, Any]]:
    files = [storelib.STORE_MANIFESTS / "namespaces.yaml", *storelib.workload_manifests()]
    return [d for f in files for d in storelib.manifest_objects(f)]


def test_every_store_workload_has_the_placeholder_and_the_render_gives_the_stores_id() -> None:
    placeholders = store_ids(raw())
    assert len(placeholders) == 7 and set(placeholders.values()) == {storelib.MANIFEST_STORE_ID}, placeholders
    rendered = store_ids(everything("9131"))
    assert rendered.keys() == placeholders.keys()
    assert set(rendered.values()) == {"9131"}


def test_two_stores_render_differently_and_only_in_their_id() -> None:
    a, b = everything("9131"), everything("17")
    assert a != b
    assert set(store_ids(b).values()) == {"17"}
    assert without_store_id(a) == without_store_id(b) == without_store_id(raw())
    assert [(d["kind"], d["metadata"]["name"]) for d in a] == [(d["kind"], d["metadata"]["name"]) for d in raw()]


def test_rendering_leaves_the_parsed_manifests_alone_and_refuses_a_bad_id() -> None:
    docs = raw()
    before = copy.deepcopy(docs)
    storelib.render(docs, "9131")
    assert docs == before
    with pytest.raises(storelib.StoreError, match="1 to 6 digits"):
        storelib.render(docs, "45-23")


class RecordingKubectl:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], str | None]] = []

    def __call__(self, *args: str, input_text: str | None = None, **_: Any) -> None:
        self.calls.append((args, input_text))


def test_apply_sends_the_rendered_objects_namespaces_first() -> None:
    k = RecordingKubectl()
    storelib.apply_workloads(k, "9131")  # type: ignore[arg-type]
    assert all(args == ("apply", "-f", "-") for args, _ in k.calls)
    sent = [[d for d in yaml.safe_load_all(text or "") if d] for _, text in k.calls]
    assert {d["kind"] for d in sent[0]} == {"Namespace"}
    assert [d for docs in sent for d in docs] == everything("9131")


def test_a_labs_restore_keeps_the_stores_own_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """reset_store re-applies the manifests after a lab: that must not turn the store back into 4523."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    applied: list[str] = []
    monkeypatch.setattr(machine, "current", lambda: SimpleNamespace(kubectl=Path("/bin/false")))
    monkeypatch.setattr(storelib, "apply_workloads", lambda k, store: applied.append(store))
    storelib.restore("9131")
    assert applied == ["9131"]
