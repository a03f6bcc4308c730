"""The mode decided once and recorded; registry probing; mirror names (pure logic, loopback servers only)."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgelab.base.errors import HostError
from edgelab.machine import online, prepare
from edgelab.machine import record as machine


class _Handler(http.server.BaseHTTPRequestHandler):
    registry = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.registry else 404)
        if self.registry:
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def _serve(registry: bool) -> Iterator[str]:
    handler = type("H", (_Handler,), {"registry": registry})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def registry() -> Iterator[str]:
    yield from _serve(True)


@pytest.fixture
def impostor() -> Iterator[str]:
    """Answers everything, like the sandbox's transparent proxy: not a registry."""
    yield from _serve(False)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGELAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("EDGELAB_SYSTEM_DIR", str(tmp_path / "system"))
    monkeypatch.delenv("EDGELAB_OFFLINE", raising=False)


@pytest.mark.parametrize(("value", "offline"), [("0", False), ("1", True)])
def test_forced_mode_skips_the_network(monkeypatch: pytest.MonkeyPatch, value: str, offline: bool) -> None:
    def no_network(*_a: object, **_k: object) -> None:
        raise AssertionError("decide went to the network although EDGELAB_OFFLINE is set")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("EDGELAB_OFFLINE", value)
    assert prepare.decide(None, None, []) == (offline, f"EDGELAB_OFFLINE={value}")


def test_a_flag_decides_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", lambda *_a, **_k: (_ for _ in ()).throw(AssertionError()))
    assert prepare.decide(True, "127.0.0.1:1", []) == (True, "asked for (--offline)")
    assert prepare.decide(False, None, []) == (False, "asked for (--online)")


def test_a_mirror_that_answers_makes_it_online(registry: str) -> None:
    offline, why = prepare.decide(None, registry, [])
    assert not offline and registry in why


def test_the_engines_own_mirror_is_asked(impostor: str, registry: str) -> None:
    offline, why = prepare.decide(None, impostor, [f"http://{registry}"])
    assert not offline and registry in why


def test_an_answer_without_the_registry_header_does_not_count(impostor: str) -> None:
    assert not machine.registry_answers(f"http://{impostor}")


def test_nothing_answering_is_offline_and_says_what_was_tried(impostor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = machine.registry_answers
    monkeypatch.setattr(machine, "registry_answers", lambda url, timeout=5.0: real(url, 2) if "127.0.0.1" in url else False)
    offline, why = prepare.decide(None, impostor, [])
    assert offline and impostor in why and "registry-1.docker.io" in why


def test_mirror_urls() -> None:
    assert machine.mirror_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert machine.mirror_url("localhost:5000") == "http://localhost:5000"
    assert machine.mirror_url("registry.corp:5000") == "https://registry.corp:5000"
    assert machine.mirror_url("http://registry.corp:5000/") == "http://registry.corp:5000"
    assert machine.mirror_host("https://registry.corp:5000/") == "registry.corp:5000"


@pytest.mark.parametrize(("ref", "want"), [
    ("python:3.11-slim@sha256:ab", ("docker.io", "library/python:3.11-slim@sha256:ab")),
    ("kindest/node:v1.34.0", ("docker.io", "kindest/node:v1.34.0")),
    ("registry.k8s.io/metrics-server/metrics-server:v0.8.0", ("registry.k8s.io", "metrics-server/metrics-server:v0.8.0")),
    ("localhost:5000/x:1", ("localhost:5000", "x:1")),
])
def test_split_registry(ref: str, want: tuple[str, str]) -> None:
    assert online.split_registry(ref) == want


def test_pulls_through_the_mirror_keep_the_path() -> None:
    assert online.through_mirror("kindest/node:v1.34.0@sha256:ab", "127.0.0.1:5000") == \
        "127.0.0.1:5000/kindest/node:v1.34.0@sha256:ab"
    assert online.through_mirror("python:3.11-slim", "https://m.corp") == "m.corp/library/python:3.11-slim"
    assert online.through_mirror("python:3.11-slim", None) == "python:3.11-slim"
    assert online.through_mirror("edgelab.local:1/x:1", "m.corp") == "edgelab.local:1/x:1"  # not a mirrored registry


def test_nodes_reach_a_loopback_mirror_at_the_kind_gateway() -> None:
    assert online.node_mirror_url("127.0.0.1:5000", "172.18.0.1") == "http://172.18.0.1:5000"
    assert online.node_mirror_url("https://m.corp:443", None) == "https://m.corp:443"
    with pytest.raises(HostError):
        online.node_mirror_url("localhost:5000", None)
    files = online.node_registry_config("127.0.0.1:5000", "172.18.0.1")
    assert set(files) == {f"{r}/hosts.toml" for r in online.MIRRORED}
    assert files["docker.io/hosts.toml"] == ('server = "https://registry-1.docker.io"\n\n'
                                             '[host."http://172.18.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n')


def _artifacts(offline: bool, mirror: str | None = None) -> machine.Artifacts:
    return machine.Artifacts(offline, Path("/k/kind"), Path("/k/kubectl"), "node:1", "py:1", None, "why", mirror, "t")


def test_nothing_recorded_means_read_only_commands_refuse() -> None:
    assert machine.recorded() is None
    with pytest.raises(HostError, match="edgelab setup"):
        machine.current()


def test_the_record_round_trips_and_the_users_own_wins() -> None:
    machine.write_record(machine.system_record_path(), _artifacts(True))
    assert machine.current() == _artifacts(True)  # an admin's set-up, for every user
    machine.write_record(machine.record_path(), _artifacts(False, "127.0.0.1:5000"))
    assert machine.current() == _artifacts(False, "127.0.0.1:5000")
    assert machine.current().to_json()["mode"] == "online"


def test_an_unreadable_record_says_what_to_do() -> None:
    machine.record_path().parent.mkdir(parents=True)
    machine.record_path().write_text("{not json")
    with pytest.raises(HostError, match="run `edgelab setup` again"):
        machine.current()


def test_a_box_bigger_than_dockers_memory_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgelab.machine import docker as engine
    from edgelab.store import stores as storelib

    small = engine.EngineState(True, cpus=4, memory_bytes=2 << 30)
    monkeypatch.setattr(engine, "state", lambda: small)  # the engine's facts as data: a 2 GiB Docker VM
    with pytest.raises(storelib.StoreError, match=r"Docker has 2\.0 GiB.*give Docker more memory"):
        storelib.check_fits(storelib.profile("edge-small"), 1, running=[])
    big = engine.EngineState(True, cpus=2, memory_bytes=24 << 30)
    monkeypatch.setattr(engine, "state", lambda: big)
    storelib.check_fits(storelib.profile("edge-small"), 3, running=[])  # nothing else runs: fits
    assert "systemReserved" in storelib.hardware_patch(storelib.profile("edge-small"))
    assert "cpu: 500m" in storelib.hardware_patch(storelib.profile("edge-small"))  # 2 engine CPUs - 1.5


def test_docker_not_answering_says_what_to_do() -> None:
    from edgelab.machine import docker as engine

    assert "usermod -aG docker" in engine.explain("permission denied while trying to connect to the Docker daemon")[1]
    assert engine.explain("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                          "Is the docker daemon running?")[0] == "Docker is not running"


def test_a_non_root_user_on_an_unprepared_machine_is_told_the_ways_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgelab.base.pins import load
    from edgelab.machine import docker as engine

    monkeypatch.setattr(engine, "is_root_linux", lambda: False)  # as a docker-group user; nothing was prepared
    with pytest.raises(HostError) as err:
        prepare._offline(load(), lambda *_: None, lambda _: None, "no container registry answers")
    text = str(err.value)
    assert "not prepared for offline use" in text and "edgelab images load FILE" in text
    assert "--registry-mirror" in text and ("sudo .venv/bin/edgelab setup --offline" in text or "need Linux" in text)
    assert machine.recorded() is None
