"""The cached build pipeline, driven with "files" steps only (no Docker)."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from edgelab.base.errors import BuildError
from edgelab.machine.offline.pipeline import Pipeline, Step, StepContext, hash_paths


class Recorder:
    """Run functions that write one file into ctx.out and count their calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.reports: list[tuple[str, str]] = []

    def report(self, name: str, state: str, _seconds: float) -> None:
        self.reports.append((name, state))

    def states(self, state: str) -> set[str]:
        return {n for n, s in self.reports if s == state}

    def writer(self, name: str) -> Callable[[StepContext], None]:
        def run(ctx: StepContext) -> None:
            self.calls[name] += 1
            deps = {d: (ctx.dep_path(d) / "out.txt").read_text() for d in ctx.step.deps}
            (ctx.out / "out.txt").write_text(f"{name}:{ctx.key}:{sorted(deps.items())}")

        return run


def steps(rec: Recorder, a_inputs: Mapping[str, Any] | None = None) -> list[Step]:
    """A <- B (B depends on A); C unrelated."""
    return [
        Step("A", "files", rec.writer("A"), a_inputs or {"version": "1"}),
        Step("B", "files", rec.writer("B"), {"version": "1"}, deps=("A",)),
        Step("C", "files", rec.writer("C"), {"version": "1"}),
    ]


def test_first_run_builds_and_writes_artifacts(tmp_path: Path) -> None:
    rec = Recorder()
    pipe = Pipeline(steps(rec), tmp_path)
    results = pipe.run(["B", "C"], rec.report)

    assert rec.calls == {"A": 1, "B": 1, "C": 1}
    assert rec.states("done") == {"A", "B", "C"}
    for name in "ABC":
        out = Path(results[name])
        assert out == tmp_path / "artifacts" / name / pipe.key(name)
        assert (out / ".done").read_text().strip() == pipe.key(name)
        assert (out / "out.txt").read_text().startswith(f"{name}:")
    # B read A's finished output through ctx.dep_path
    assert f"A:{pipe.key('A')}" in (Path(results["B"]) / "out.txt").read_text()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_rerun_with_same_inputs_is_cached(tmp_path: Path) -> None:
    Pipeline(steps(Recorder()), tmp_path).run(["B", "C"])

    rec = Recorder()
    Pipeline(steps(rec), tmp_path).run(["B", "C"], rec.report)

    assert rec.calls == {}
    assert rec.states("cached") == {"A", "B", "C"}
    assert rec.states("start") == set()


def test_targets_build_only_their_closure(tmp_path: Path) -> None:
    rec = Recorder()
    results = Pipeline(steps(rec), tmp_path).run(["B"])
    assert set(results) == {"A", "B"}
    assert rec.calls == {"A": 1, "B": 1}


def test_bumping_an_input_rebuilds_it_and_its_dependents_only(tmp_path: Path) -> None:
    first = Pipeline(steps(Recorder()), tmp_path)
    before = first.run(["B", "C"])

    rec = Recorder()
    bumped = Pipeline(steps(rec, a_inputs={"version": "2"}), tmp_path)
    after = bumped.run(["B", "C"], rec.report)

    assert rec.calls == {"A": 1, "B": 1}
    assert rec.states("cached") == {"C"}
    assert after["A"] != before["A"] and after["B"] != before["B"]
    assert after["C"] == before["C"]


def test_failing_step_raises_build_error_naming_step_and_log(tmp_path: Path) -> None:
    def fail(ctx: StepContext) -> None:
        (ctx.out / "partial.txt").write_text("half")
        ctx.sh(["sh", "-c", "echo boom-marker; exit 3"])

    rec = Recorder()
    pipe = Pipeline([Step("broken", "files", fail, {"v": "1"})], tmp_path)
    with pytest.raises(BuildError) as info:
        pipe.run(["broken"], rec.report)

    err = info.value
    assert err.step == "broken"
    assert "'broken'" in str(err)
    assert str(err.log) in str(err)
    assert err.log.is_file()
    assert "boom-marker" in err.log.read_text()
    assert rec.states("failed") == {"broken"}
    assert not (Path(pipe.output("broken")) / ".done").exists()
    assert not list((tmp_path / "artifacts").glob("broken/*/.done"))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_dependency_failure_stops_dependents(tmp_path: Path) -> None:
    rec = Recorder()

    def fail(ctx: StepContext) -> None:
        rec.calls["A"] += 1
        raise RuntimeError("A cannot be built")

    pipe = Pipeline(
        [Step("A", "files", fail), Step("B", "files", rec.writer("B"), deps=("A",))], tmp_path
    )
    with pytest.raises(BuildError) as info:
        pipe.run(["B"], rec.report)

    assert info.value.step == "A"
    assert "A cannot be built" in str(info.value)
    assert rec.calls == {"A": 1}
    assert "B" not in {n for n, _ in rec.reports}
    assert not Path(pipe.output("B")).exists()


def test_interrupted_scratch_and_unfinished_output_do_not_block(tmp_path: Path) -> None:
    rec = Recorder()
    pipe = Pipeline(steps(rec), tmp_path)
    key = pipe.key("A")
    # what a killed run leaves: its scratch dir (same pid: the path this run
    # will reuse) and an output dir that never got its .done marker
    stale = tmp_path / "tmp" / f"A-{key}-{os.getpid()}"
    stale.mkdir(parents=True)
    (stale / "junk").write_text("x")
    unfinished = tmp_path / "artifacts" / "A" / key
    unfinished.mkdir(parents=True)
    (unfinished / "junk").write_text("x")

    results = pipe.run(["A"])

    out = Path(results["A"])
    assert rec.calls == {"A": 1}
    assert sorted(p.name for p in out.iterdir()) == [".done", "out.txt"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_file_inputs_key_the_step(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.go").write_text("package main\n")
    cache = tmp_path / "cache"

    def pipe(rec: Recorder) -> Pipeline:
        return Pipeline([Step("bin", "files", rec.writer("bin"), files=(src,))], cache)

    first = Recorder()
    pipe(first).run(["bin"])
    again = Recorder()
    pipe(again).run(["bin"])
    (src / "main.go").write_text("package main // changed\n")
    changed = Recorder()
    pipe(changed).run(["bin"])

    assert (first.calls, again.calls, changed.calls) == ({"bin": 1}, {}, {"bin": 1})


def test_hash_paths_follows_content_and_names(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    f = d / "sub" / "a.txt"
    f.write_text("one")
    h1 = hash_paths([d])
    assert hash_paths([d]) == h1
    f.write_text("two")
    h2 = hash_paths([d])
    assert h2 != h1
    f.rename(d / "sub" / "b.txt")
    assert hash_paths([d]) != h2
    # a single file works as a root too
    assert hash_paths([d / "sub" / "b.txt"]) != hash_paths([d])


def test_heavy_steps_run_one_at_a_time(tmp_path: Path) -> None:
    """Light steps meet at a barrier (so they overlap); heavy ones never can."""
    light_meet = threading.Barrier(2, timeout=10)
    heavy_meet = threading.Barrier(2, timeout=0.5)
    met: dict[str, bool] = {}

    def at(barrier: threading.Barrier, name: str) -> Callable[[StepContext], None]:
        def run(ctx: StepContext) -> None:
            try:
                barrier.wait()
                met[name] = True
            except threading.BrokenBarrierError:
                met[name] = False

        return run

    steps_ = [
        Step("light1", "files", at(light_meet, "light1")),
        Step("light2", "files", at(light_meet, "light2")),
        Step("heavy1", "files", at(heavy_meet, "heavy1"), heavy=True),
        Step("heavy2", "files", at(heavy_meet, "heavy2"), heavy=True),
    ]
    Pipeline(steps_[:2], tmp_path / "light", jobs=3).run(["light1", "light2"])
    Pipeline(steps_[2:], tmp_path / "heavy", jobs=3).run(["heavy1", "heavy2"])

    assert met == {"light1": True, "light2": True, "heavy1": False, "heavy2": False}


def test_a_recipe_bump_rebuilds_but_recipe_zero_keeps_existing_keys(tmp_path: Path) -> None:
    def noop(ctx: StepContext) -> None:
        (ctx.out / "x").write_text("x")

    plain = Pipeline([Step("S", "files", noop, {"v": "1"})], tmp_path)
    explicit_zero = Pipeline([Step("S", "files", noop, {"v": "1"}, recipe=0)], tmp_path)
    bumped = Pipeline([Step("S", "files", noop, {"v": "1"}, recipe=1)], tmp_path)

    assert plain.key("S") == explicit_zero.key("S")
    assert bumped.key("S") != plain.key("S")
    plain.run(["S"])
    rec = Recorder()
    bumped.run(["S"], rec.report)
    assert rec.states("done") == {"S"}
