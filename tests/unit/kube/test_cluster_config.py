"""The kind config edgelab writes, and where kubeconfigs live."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgelab.base.errors import ClusterError
from edgelab.kube.cluster import kind_config, kubeconfig_path, write_kind_config


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_nodes_are_one_control_plane_plus_workers(workers: int) -> None:
    config = kind_config(workers)
    assert config["nodes"] == [{"role": "control-plane"}] + [{"role": "worker"}] * workers
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["networking"]["disableDefaultCNI"] is True


@pytest.mark.parametrize("workers", [3, -1])
def test_out_of_range_workers_raise(workers: int) -> None:
    with pytest.raises(ClusterError, match=f"{workers + 1} asked"):
        kind_config(workers)


def test_configs_do_not_share_state() -> None:
    kind_config(2)["networking"]["disableDefaultCNI"] = False
    assert kind_config(0)["networking"]["disableDefaultCNI"] is True


def test_written_config_round_trips(tmp_path: Path) -> None:
    path = write_kind_config(kind_config(2), tmp_path / "kind.yaml")
    assert yaml.safe_load(path.read_text()) == kind_config(2)


def test_kubeconfig_path_honours_xdg_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert kubeconfig_path("shop") == tmp_path / "state" / "edgelab" / "clusters" / "shop" / "kubeconfig"


def test_kubeconfig_path_defaults_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig_path("shop") == tmp_path / ".local" / "state" / "edgelab" / "clusters" / "shop" / "kubeconfig"
