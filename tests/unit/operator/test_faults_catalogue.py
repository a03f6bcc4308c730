"""The fault catalogue (operator/edgelab_operator/catalogue.yaml and catalogue.py): it loads, every
type renders for every target it allows, the CRD offers exactly its types, bad catalogues are refused
with a message that says where, and nothing a learner can read in a rendered change gives the fault away."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from unitpaths import REPO

from edgelab_operator import catalogue as cat

ROOT = REPO
STORE = ROOT / "manifests" / "store"
CRD = ROOT / "manifests" / "operator" / "crd.yaml"
STORE_FILES = ("namespaces.yaml", "pos.yaml", "payment.yaml", "order.yaml", "observability.yaml")
# Words that name the exercise rather than the incident: none may reach a learner.
SPOILER_PREFIXES = ("fault", "chaos", "inject", "broken", "spoiler", "edgelab")
SPOILER_WORDS = {"lab", "labs"}


@pytest.fixture(scope="module")
def catalogue() -> cat.Catalogue:
    return cat.load()


@pytest.fixture(scope="module")
def store_objects() -> list[dict[str, Any]]:
    return [d for f in STORE_FILES for d in yaml.safe_load_all((STORE / f).read_text()) if d]


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects if o["kind"] == kind}


def facts_for(target: str, objects: list[dict[str, Any]]) -> dict[str, str]:
    """What the operator reads from the cluster for `target` (engine.Engine.plan), from the store's manifests."""
    namespace, workload = cat.split_target(target)
    deployment = of_kind(objects, "Deployment")[(namespace, workload)]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {"namespace": namespace, "workload": workload, "container": container["name"],
            "replicas": str(deployment["spec"].get("replicas", 1)), **cat.image_facts(container["image"])}


def rendered(catalogue: cat.Catalogue, objects: list[dict[str, Any]]) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for ft in catalogue.types.values():
        for target in ft.targets:
            yield ft.name, target, cat.render(ft, target, catalogue, facts_for(target, objects))


def strings(obj: Any) -> Iterator[str]:
    """Every string of a nested structure, keys included."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def spoilers(text: str) -> list[str]:
    words = [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]
    return [w for w in words if w in SPOILER_WORDS or w.startswith(SPOILER_PREFIXES)]


def version(tag: str) -> tuple[int, ...]:
    return tuple(int(p) for p in tag.split("."))


# --- the shipped catalogue ------------------------------------------------------------------------


def test_the_shipped_catalogue_loads(catalogue: cat.Catalogue) -> None:
    assert catalogue.types, "no fault types"
    for name, ft in catalogue.types.items():
        assert ft.name == name
        assert ft.targets and ft.default_target == ft.targets[0]
        assert ft.symptom_seconds > 0
        assert ft.course and ft.summary and ft.symptom


def test_every_type_renders_for_every_target_with_nothing_left_to_fill(
    catalogue: cat.Catalogue, store_objects: list[dict[str, Any]]
) -> None:
    count = 0
    for name, target, changes in rendered(catalogue, store_objects):
        count += 1
        assert len(changes) == len(catalogue.types[name].changes), (name, target)
        for change in changes:
            assert len(change) == 1 and next(iter(change)) in cat.CHANGE_KINDS, (name, target, change)
            for s in strings(change):
                assert "${" not in s and "$" not in s, f"{name} on {target}: {s!r} still has a variable"
    assert count == sum(len(ft.targets) for ft in catalogue.types.values())


def test_rendering_fills_in_the_target_and_cluster_facts(catalogue: cat.Catalogue) -> None:
    facts = {"namespace": "pos", "workload": "pos-backend", "container": "pos-backend", "replicas": "3",
             **cat.image_facts("byteedge/pos-backend:2.4.1")}
    typo = cat.render(catalogue.get("image-tag-typo"), "pos/pos-backend", catalogue, facts)
    assert typo == [{"release": {"image": "byteedge/pos-backend:2.4.11", "cause": "release 2.4.11"}}]
    crash = cat.render(catalogue.get("crash-on-start"), "pos/pos-backend", catalogue, facts)
    assert crash[0]["release"]["image"] == catalogue.workloads["pos/pos-backend"]["release"]
    hog = cat.render(catalogue.get("cpu-hog"), "pos/pos-backend", catalogue, facts)
    assert hog[0] == {"config": {"name": "pos-config", "set": {"tax_recalc_interval_ms": "0"}}}  # a key filled in
    scale = cat.render(catalogue.get("all-pods-down"), "pos/pos-backend", catalogue, facts)
    assert scale == [{"scale": {"replicas": 0}}]  # non-strings untouched
    # rendering never edits the catalogue itself
    assert next(iter(catalogue.get("cpu-hog").changes[0]["config"]["set"])) == "${cpu_setting}"


def test_the_crd_offers_exactly_the_catalogues_types(catalogue: cat.Catalogue) -> None:
    crd = yaml.safe_load(CRD.read_text())
    (version_,) = crd["spec"]["versions"]
    enum = version_["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["type"]["enum"]
    assert len(enum) == len(set(enum)), "duplicate types in the CRD enum"
    assert set(enum) == set(catalogue.types)


def test_the_workloads_table_names_objects_the_store_has(
    catalogue: cat.Catalogue, store_objects: list[dict[str, Any]]
) -> None:
    deployments = of_kind(store_objects, "Deployment")
    services = of_kind(store_objects, "Service")
    configmaps = of_kind(store_objects, "ConfigMap")
    secrets = of_kind(store_objects, "Secret")
    for target, facts in catalogue.workloads.items():
        ns, name = cat.split_target(target)
        assert (ns, name) in deployments, target
        if "service" in facts:
            assert (ns, facts["service"]) in services, (target, facts["service"])
        if "config" in facts:
            data = configmaps[(ns, facts["config"])]["data"]
            for key in ("required_key", "cpu_setting"):
                if key in facts:
                    assert facts[key] in data, (target, key, facts[key])
        if "secret" in facts:
            secret = secrets[(ns, facts["secret"])]
            assert facts["secret_key"] in {**secret.get("data", {}), **secret.get("stringData", {})}, target


# --- release images -------------------------------------------------------------------------------


def test_release_images_are_the_next_versions_of_the_store_images(catalogue: cat.Catalogue) -> None:
    released = catalogue.release_images()
    expected = sorted({w["release"] for w in catalogue.workloads.values() if "release" in w})
    assert released == expected and released
    current = yaml.safe_load((STORE / "images.yaml").read_text())
    for target, facts in catalogue.workloads.items():
        if "release" not in facts:
            continue
        m = re.fullmatch(r"byteedge/([a-z0-9-]+):(\d+\.\d+\.\d+)", facts["release"])
        assert m, f"{target}: release {facts['release']!r} is not byteedge/NAME:X.Y.Z"
        service, tag = m.groups()
        assert service == cat.split_target(target)[1], target
        assert service in current, f"{service} is not in manifests/store/images.yaml"
        now = current[service]
        assert facts["release"] != now
        assert version(tag) > version(now.rpartition(":")[2]), f"{target}: release {tag} is not newer than {now}"


def test_release_images_are_loaded_onto_every_store() -> None:
    from edgelab.machine.offline import steps
    from edgelab.store import stores as store

    released = set(cat.load().release_images())
    assert released <= set(store.store_images())
    assert released <= set(steps.store_image_names())


# --- a spoiler check --------------------------------------------------------------------------------


def test_spoiler_detector_itself() -> None:
    assert spoilers("Inject-test") == ["inject"]
    assert spoilers("edgelab.io/fault") == ["edgelab", "fault"]
    assert spoilers("faulty lab chaos-monkey BROKEN") == ["faulty", "lab", "chaos", "broken"]
    assert spoilers("default label available pos-terminal byteedge.io/tier") == []


def test_nothing_a_learner_reads_gives_the_fault_away(
    catalogue: cat.Catalogue, store_objects: list[dict[str, Any]]
) -> None:
    found = []
    for name, target, changes in rendered(catalogue, store_objects):
        for change in changes:
            ((kind, body),) = change.items()  # the kind itself is the operator's, never written to the store
            for s in strings(body):
                if words := spoilers(s):
                    found.append(f"{name} on {target}: {kind} {s!r} says {words}")
    assert not found, "\n".join(found)


# --- refusing bad catalogues ------------------------------------------------------------------------


def base() -> dict[str, Any]:
    return {
        "workloads": {
            "pos/pos-backend": {"config": "pos-config", "service": "pos-backend-service"},
            "order/order-service": {"service": "order-service"},
        },
        "types": {
            "demo": {
                "course": "a course entry",
                "summary": "what it does",
                "symptom": "what shows",
                "symptom_seconds": 30,
                "targets": ["pos/pos-backend"],
                "changes": [{"scale": {"replicas": 0}}],
            }
        },
    }


def with_type(**fields: Any) -> dict[str, Any]:
    raw = base()
    raw["types"]["demo"].update(copy.deepcopy(fields))
    return raw


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(cat.CatalogueError) as e:
        cat.parse(raw, "test.yaml")
    return str(e.value)


def test_the_small_catalogue_is_valid() -> None:
    parsed = cat.parse(base(), "test.yaml")
    assert list(parsed.types) == ["demo"]
    assert parsed.types["demo"].changes == ({"scale": {"replicas": 0}},)


def test_parse_refuses_an_unknown_change_kind() -> None:
    msg = refused(with_type(changes=[{"explode": {}}]))
    assert "types.demo.changes[0]" in msg and "unknown change kind 'explode'" in msg


def test_parse_refuses_a_change_with_two_kinds() -> None:
    msg = refused(with_type(changes=[{"scale": {"replicas": 0}, "restart": {}}]))
    assert "types.demo.changes[0]" in msg and "exactly one kind" in msg


def test_parse_refuses_an_unknown_field_in_a_change() -> None:
    msg = refused(with_type(changes=[{"restart": {}}, {"scale": {"replicas": 0, "count": 2}}]))
    assert "types.demo.changes[1].scale" in msg and "count" in msg


def test_parse_refuses_a_target_not_in_workloads() -> None:
    msg = refused(with_type(targets=["pos/pos-backend", "shop/till"]))
    assert "types.demo.targets" in msg and "shop/till" in msg and "workloads" in msg


def test_parse_refuses_a_type_without_a_symptom() -> None:
    raw = base()
    del raw["types"]["demo"]["symptom"]
    msg = refused(raw)
    assert "types.demo" in msg and "missing symptom" in msg


def test_parse_refuses_an_unknown_type_field() -> None:
    msg = refused(with_type(answer="it was me"))
    assert "types.demo" in msg and "answer" in msg


def test_parse_refuses_a_variable_no_target_can_answer() -> None:
    msg = refused(with_type(changes=[{"config": {"name": "${nowhere}", "remove": ["x"]}}]))
    assert "types.demo" in msg and "nowhere" in msg


def test_parse_refuses_a_variable_one_allowed_target_cannot_answer() -> None:
    # pos/pos-backend has a `config`, order/order-service does not
    msg = refused(with_type(targets=["pos/pos-backend", "order/order-service"],
                            changes=[{"config": {"name": "${config}", "set": {"a": "1"}}}]))
    assert "types.demo" in msg and "order/order-service" in msg and "config" in msg


def test_parse_accepts_variables_answered_by_facts_workloads_and_params() -> None:
    raw = with_type(params={"size": "1"},
                    changes=[{"config": {"name": "${config}", "set": {"${workload}_size": "${size}"}}}])
    ft = cat.parse(raw, "test.yaml").types["demo"]
    assert ft.params == {"size": "1"}


@pytest.mark.parametrize("seconds", [0, -5, "30", 1.5])
def test_parse_refuses_a_symptom_time_that_is_not_a_positive_whole_number(seconds: Any) -> None:
    msg = refused(with_type(symptom_seconds=seconds))
    assert "types.demo.symptom_seconds" in msg


@pytest.mark.parametrize("kind", ["Deployment", "Namespace", None])
def test_parse_refuses_deleting_anything_but_a_configmap_or_secret(kind: str | None) -> None:
    msg = refused(with_type(changes=[{"delete": {"kind": kind, "name": "pos-backend"}}]))
    assert "types.demo.changes[0].delete.kind" in msg and "ConfigMap" in msg and "Secret" in msg


def test_parse_refuses_a_create_without_metadata() -> None:
    msg = refused(with_type(changes=[{"create": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                                  "spec": {"podSelector": {}}}}]))
    assert "types.demo.changes[0].create" in msg and "metadata" in msg


def test_parse_refuses_a_catalogue_without_its_two_maps() -> None:
    assert "workloads" in refused({"types": {}})
    with pytest.raises(cat.CatalogueError):
        cat.parse([], "test.yaml")


def test_parse_refuses_a_workload_key_that_is_not_namespace_slash_deployment() -> None:
    raw = base()
    raw["workloads"]["POS"] = {}
    assert "workloads.POS" in refused(raw)


# --- rendering, parameters, targets, images ---------------------------------------------------------------


def test_render_refuses_a_target_the_type_does_not_allow(catalogue: cat.Catalogue) -> None:
    ft = catalogue.get("missing-secret")
    with pytest.raises(cat.InvalidFault) as e:
        cat.render(ft, "pos/pos-backend", catalogue, {"namespace": "pos", "workload": "pos-backend"})
    msg = str(e.value)
    assert "missing-secret" in msg and "pos/pos-backend" in msg
    for allowed in ft.targets:
        assert allowed in msg


def test_get_refuses_an_unknown_type_and_lists_the_known(catalogue: cat.Catalogue) -> None:
    with pytest.raises(cat.InvalidFault) as e:
        catalogue.get("disk-full")
    assert "disk-full" in str(e.value) and "crash-on-start" in str(e.value)


def test_resolve_params_refuses_unknown_parameters(catalogue: cat.Catalogue) -> None:
    with pytest.raises(cat.InvalidFault) as e:
        cat.resolve_params(catalogue.get("crash-on-start"), {"image": "x"})
    assert "crash-on-start" in str(e.value) and "image" in str(e.value) and "none" in str(e.value)
    assert cat.resolve_params(catalogue.get("crash-on-start"), None) == {}


def test_resolve_params_keeps_defaults_and_takes_given_values_as_strings() -> None:
    ft = cat.parse(with_type(params={"size": "1", "mode": "slow"}), "test.yaml").types["demo"]
    assert cat.resolve_params(ft, {"size": 3}) == {"size": "3", "mode": "slow"}
    with pytest.raises(cat.InvalidFault) as e:
        cat.resolve_params(ft, {"size": "2", "colour": "red"})
    assert "colour" in str(e.value) and "mode, size" in str(e.value)


def test_render_uses_parameters_over_defaults() -> None:
    raw = with_type(params={"size": "1"}, changes=[{"config": {"name": "${config}", "set": {"pool": "${size}"}}}])
    parsed = cat.parse(raw, "test.yaml")
    ft = parsed.types["demo"]
    facts = {"namespace": "pos", "workload": "pos-backend"}
    assert cat.render(ft, "pos/pos-backend", parsed, facts) == [{"config": {"name": "pos-config", "set": {"pool": "1"}}}]
    assert cat.render(ft, "pos/pos-backend", parsed, facts, {"size": "7"})[0]["config"]["set"] == {"pool": "7"}
    with pytest.raises(cat.InvalidFault):
        cat.render(ft, "pos/pos-backend", parsed, facts, {"nope": "1"})


def test_split_target() -> None:
    assert cat.split_target("pos/pos-backend") == ("pos", "pos-backend")
    for bad in ("pos", "POS/x", "pos/pos-backend/x", "/pos-backend", "pos/", ""):
        with pytest.raises(cat.InvalidFault) as e:
            cat.split_target(bad)
        assert "namespace/deployment" in str(e.value)


@pytest.mark.parametrize(
    ("image", "repo", "tag"),
    [
        ("byteedge/pos-backend:2.4.1", "byteedge/pos-backend", "2.4.1"),
        ("registry:5000/a/b", "registry:5000/a/b", "latest"),
        ("registry:5000/a/b:1.2", "registry:5000/a/b", "1.2"),
        ("nginx", "nginx", "latest"),
    ],
)
def test_image_facts(image: str, repo: str, tag: str) -> None:
    assert cat.image_facts(image) == {"image": image, "image_repo": repo, "image_tag": tag}


def test_load_refuses_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "catalogue.yaml"
    bad.write_text("types: [unclosed\n")
    with pytest.raises(cat.CatalogueError) as e:
        cat.load(bad)
    assert "not valid YAML" in str(e.value)


def test_every_problem_of_the_catalogue_is_reported_at_once() -> None:
    raw = with_type(symptom_seconds=0, changes=[{"scale": {"replicas": 0}}, {"teleport": {}}])
    raw["types"]["second"] = {"course": "c", "summary": "s", "symptom": "x", "symptom_seconds": 5,
                              "targets": ["pos/nowhere"], "changes": [{"delete": {"kind": "Node", "name": "n"}}]}
    lines = refused(raw).splitlines()
    assert any("types.demo.symptom_seconds" in line and "(got 0)" in line for line in lines), lines
    assert any("types.demo.changes[1]: unknown change kind 'teleport'" in line for line in lines), lines
    assert any("types.second.targets: 'pos/nowhere'" in line for line in lines), lines
    assert any("types.second.changes[0].delete.kind" in line and "'Node'" in line for line in lines), lines
    assert all(line.startswith("test.yaml: ") for line in lines), lines
