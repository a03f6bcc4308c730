"""`up --listen`: which addresses are accepted, the kind config, the record, and an existing store's address."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgelab.store import stores as storelib

pytestmark = pytest.mark.usefixtures("private_state")  # tests/unit/conftest.py


@pytest.mark.parametrize("address", ["127.0.0.1", " 127.0.0.1 "])
def test_an_address_of_this_machine_is_accepted(address: str) -> None:
    assert storelib.check_listen(address) == "127.0.0.1"


@pytest.mark.parametrize(("address", "reason"), [
    ("store.local", "not an IP address"), ("10.213.7", "not an IP address"), ("", "not an IP address"),
    ("10.213.7.1/30", "not an IP address"), ("0.0.0.0", "not one address"), ("::", "not one address"),
    ("224.0.0.1", "not one address"),
    ("203.0.113.7", "this machine has no such address"),  # TEST-NET-3: never an address of a real machine
])
def test_other_addresses_are_refused_with_the_reason(address: str, reason: str) -> None:
    with pytest.raises(storelib.StoreError, match=reason):
        storelib.check_listen(address)


def test_kind_config_publishes_the_api_server_on_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storelib, "host_resources", lambda: (2, 24 << 30))
    prof = storelib.profile(None)
    p = storelib.paths("9120")
    assert storelib.kind_config("9120", 1, prof, p)["networking"]["apiServerAddress"] == "127.0.0.1"
    config = storelib.kind_config("9120", 1, prof, p, "10.213.7.1")
    assert config["networking"]["apiServerAddress"] == "10.213.7.1"
    assert config["networking"]["disableDefaultCNI"] is True


def test_the_address_is_recorded_and_a_store_without_a_record_answers_on_loopback() -> None:
    assert storelib.listen_address("9120") == "127.0.0.1"
    storelib._record_listen("9120", "10.213.7.1")
    assert storelib.listen_address("9120") == "10.213.7.1"


def test_server_url_is_the_admin_kubeconfigs() -> None:
    assert storelib.server_url("9120") == ""
    admin = storelib.paths("9120").admin_kubeconfig
    admin.parent.mkdir(parents=True)
    admin.write_text("clusters: [{name: kind-store-9120, cluster: {server: 'https://10.213.7.1:41234'}}]\n")
    assert storelib.server_url("9120") == "https://10.213.7.1:41234"


def an_existing_store(monkeypatch: pytest.MonkeyPatch, answers_on: str) -> list[str | None]:
    """`up` sees store 9120 running (1 node) and records what `cluster.create` would be called with."""
    storelib._record_listen("9120", answers_on)
    made: list[str | None] = []
    monkeypatch.setattr(storelib, "check_fits", lambda *_: None)
    monkeypatch.setattr(storelib, "spec", lambda store, nodes, prof, artifacts, listen=None: (
        made.append(listen), SimpleNamespace(name="store-9120"))[1])
    monkeypatch.setattr(storelib.cluster, "exists", lambda _: True)
    monkeypatch.setattr(storelib, "node_containers", lambda _: ["store-9120-control-plane"])

    def stop(*_: object, **__: object) -> bool:
        raise RuntimeError("create reached")

    monkeypatch.setattr(storelib.cluster, "create", stop)
    return made


def test_an_existing_store_on_another_address_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    an_existing_store(monkeypatch, "10.213.7.1")
    with pytest.raises(storelib.StoreError, match=r"already answers on 10\.213\.7\.1.*edgelab down --store 9120"):
        storelib.up("9120", 1, None, SimpleNamespace(), listen="127.0.0.1")  # type: ignore[arg-type]
    assert storelib.listen_address("9120") == "10.213.7.1"


def test_up_without_listen_keeps_an_existing_stores_address(monkeypatch: pytest.MonkeyPatch) -> None:
    made = an_existing_store(monkeypatch, "127.0.0.1")
    with pytest.raises(RuntimeError, match="create reached"):
        storelib.up("9120", 1, None, SimpleNamespace())  # type: ignore[arg-type]
    assert made[-1] == "127.0.0.1"
