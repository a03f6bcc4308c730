"""How many stores fit: the rule (`capacity.fit`) on data, the Docker reading's parsing, and `up`'s refusal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgelab.machine import capacity, prepare
from edgelab.machine import docker as engine
from edgelab.machine.capacity import GiB, MiB, NodeUse
from edgelab.store import stores as storelib


def node(cluster: str, role: str, mib: int, i: int = 0) -> NodeUse:
    return NodeUse(cluster, f"{cluster}-{role}{i or ''}", role, mib * MiB, 10.0)


ONE = [node("store-9101", "control-plane", 1200)]
THREE = [node("store-9105", "control-plane", 900), node("store-9105", "worker", 450, 1),
         node("store-9105", "worker", 450, 2)]


def test_the_margin_is_a_tenth_of_dockers_memory_at_least_2_gib() -> None:
    assert capacity.margin(24 * GiB) == int(2.4 * GiB)
    assert capacity.margin(8 * GiB) == 2 * GiB


def test_a_store_fits_when_running_plus_needed_stays_below_docker_minus_the_margin() -> None:
    # 24 GiB - 2.4 GiB margin = 21.6 GiB for nodes
    assert capacity.fit([], 24 * GiB, 21 * GiB).fits
    assert not capacity.fit([], 24 * GiB, 22 * GiB).fits
    used = ONE + THREE  # 3000 MiB: 18.6 GiB left below the margin
    assert capacity.fit(used, 24 * GiB, 18 * GiB).fits
    f = capacity.fit(used, 24 * GiB, 19 * GiB)
    assert not f.fits and f.running_bytes == 3000 * MiB
    assert f.by_cluster == {"store-9101": 1200 * MiB, "store-9105": 1800 * MiB}
    assert f.short_bytes == f.running_bytes + 19 * GiB - (24 * GiB - f.margin_bytes)


def test_an_unknown_engine_memory_does_not_refuse() -> None:
    assert capacity.fit(ONE, 0, 5 * GiB).fits


def test_the_reason_names_every_number_and_each_running_cluster() -> None:
    f = capacity.fit(ONE + THREE, 8 * GiB, 3 * GiB)
    said = f.reason("store 9131 (3 node(s), edge-small)")
    assert "store 9131 (3 node(s), edge-small) needs about 3.0 GiB" in said
    assert "the 2 kind cluster(s) already running use 2.9 GiB (store-9101 1.2 GiB, store-9105 1.8 GiB)" in said
    assert "Docker has 8.0 GiB and 2.0 GiB stays free" in said and "short" in said


def test_how_many_more_follows_the_same_rule() -> None:
    per = 1400 * MiB
    n = capacity.how_many_more(ONE, 24 * GiB, per)
    assert capacity.fit(ONE + [node("x", "control-plane", 1400)] * (n - 1), 24 * GiB, per).fits
    assert not capacity.fit(ONE + [node("x", "control-plane", 1400)] * n, 24 * GiB, per).fits
    assert capacity.how_many_more([], 0, per) == 0


def test_a_new_stores_need_is_the_measured_figure_per_role_capped_by_its_box() -> None:
    need = capacity.NodeNeed(one_node=1400 * MiB, control_plane=1000 * MiB, worker=500 * MiB, measured="today")
    assert need.store(1, 3 * GiB) == 1400 * MiB
    assert need.store(3, 3 * GiB) == 2000 * MiB
    assert need.store(1, 1 * GiB) == 1 * GiB  # a node never uses more than its box
    measured = storelib.node_need()
    assert measured.measured.startswith("2026-") and 0 < measured.worker < measured.control_plane


def test_docker_stats_rows_are_read_with_their_cluster_and_role() -> None:
    ps = ("aa store-9131-control-plane store-9131 control-plane\n"
          "bb store-9105-worker store-9105 worker\n")
    stats = "\n".join(json.dumps(r) for r in [
        {"Name": "store-9131-control-plane", "MemUsage": "1.135GiB / 3GiB", "CPUPerc": "18.91%"},
        {"Name": "store-9105-worker", "MemUsage": "402.5MiB / 3GiB", "CPUPerc": "2.50%"},
        {"Name": "not-a-kind-node", "MemUsage": "1GiB / 3GiB", "CPUPerc": "1%"},
    ])
    got = capacity.parse_stats(ps, stats)
    assert [(n.cluster, n.role) for n in got] == [("store-9105", "worker"), ("store-9131", "control-plane")]
    assert got[1].memory_bytes == int(1.135 * GiB) and got[0].memory_bytes == int(402.5 * MiB)
    assert got[1].cpu_percent == pytest.approx(18.91)
    with pytest.raises(capacity.CapacityError, match="cannot read the size"):
        capacity.parse_size("lots")


def test_a_node_gone_between_listing_and_stats_is_read_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Seen in CI: another lane's store went down between `docker ps` and `docker stats`, which failed with "EOF".
    A stand-in `docker` on PATH lists two nodes, fails the first stats call, then lists one."""
    calls = tmp_path / "calls"
    docker = tmp_path / "docker"
    docker.write_text(f"""#!/bin/sh
echo "$1" >> {calls}
n=$(grep -c stats {calls})
if [ "$1" = ps ]; then
  echo "aa store-9131-control-plane store-9131 control-plane"
  [ "$n" = 0 ] && echo "bb store-9106-worker store-9106 worker"
  exit 0
fi
[ "$n" = 1 ] && {{ echo EOF >&2; exit 1; }}
echo '{{"Name": "store-9131-control-plane", "MemUsage": "1GiB / 3GiB", "CPUPerc": "5%"}}'
""")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    got = capacity.running_nodes()
    assert [n.node for n in got] == ["store-9131-control-plane"]
    assert calls.read_text().split() == ["ps", "stats", "ps", "stats"]


def fake_engine(monkeypatch: pytest.MonkeyPatch, gib: int) -> None:
    monkeypatch.setattr(engine, "state", lambda: engine.EngineState(True, cpus=2, memory_bytes=gib * GiB))


def test_up_refuses_a_store_that_does_not_fit_beside_the_running_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_engine(monkeypatch, 8)
    crowded = ONE + THREE + [node("store-9102", "control-plane", 1500)]  # 4.4 GiB of 8, 2 GiB kept
    with pytest.raises(storelib.StoreError) as e:
        storelib.check_fits(storelib.profile("edge-small"), 3, "9131", running=crowded)
    said = str(e.value)
    assert "store 9131 (3 node(s), edge-small) needs about" in said and "store-9102 1.5 GiB" in said
    assert "edgelab down --store N" in said and "--nodes 1" in said and "measured 2026-" in said
    storelib.check_fits(storelib.profile("edge-small"), 1, "9131", running=ONE)  # 1.2 + 1.4 of 6 GiB: fits


def test_up_on_a_store_that_already_runs_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_engine(monkeypatch, 4)
    full = [node("store-9131", "control-plane", 1900)]
    storelib.check_fits(storelib.profile("edge-small"), 1, "9131", running=full)  # converging, nothing new
    with pytest.raises(storelib.StoreError, match="short"):
        storelib.check_fits(storelib.profile("edge-small"), 1, "9132", running=full)


def test_the_cli_refuses_with_the_reason_before_making_anything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edgelab import cli
    from edgelab.kube import cluster

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    fake_engine(monkeypatch, 8)
    monkeypatch.setattr(prepare, "setup", lambda **_: object())
    monkeypatch.setattr(capacity, "running_nodes", lambda: ONE + THREE + [node("store-9102", "control-plane", 1500)])

    def must_not_run(*_: object, **__: object) -> None:
        raise AssertionError("a store that does not fit was created")

    monkeypatch.setattr(cluster, "create", must_not_run)
    result = CliRunner().invoke(cli.app, ["up", "--store", "9131", "--nodes", "3"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert "store 9131 (3 node(s), edge-small) needs about" in said and "edgelab down --store N" in said, said
    assert "Traceback" not in result.output and not (tmp_path / "edgelab").exists()
