"""Benchmarks of agents: labs run N times each on one store, every run one JSON line, pass@k per lab.

`bench` runs `agentrun.run` once per lab and repeat, one run after another on
one store, and appends each run's line (`RunResult.to_dict()` plus `repeat`
and `agent`) to a results file as soon as the run ends, flushed to disk:
Ctrl-C, a crash or a lost store lose nothing finished. Labs the store cannot
run (a lab's `min_nodes` above the store's nodes) get a line saying why.

`load` reads a results file back, checking every line; `summarize` turns
lines into numbers per lab (runs, passed, pass@1, pass@k, mean score, mean
agent time, mean requests, timeouts) and over all labs; `compare` puts two
files side by side. Everything but the runner and the store's node count (both
injectable) is pure. docs/bench.md says what each number means.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from math import comb
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal, Protocol

from kubernetes import client
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from edgelab.agents.run import run
from edgelab.base import durations
from edgelab.base.errors import EdgelabError
from edgelab.base.types import Say
from edgelab.labs import catalogue as labslib
from edgelab.labs import session
from edgelab.labs.progress import Case, write_junit

if TYPE_CHECKING:
    from edgelab.labs.grading import Result
    from edgelab.labs.model import Lab
    from edgelab.labs.progress import Case


def _quiet(_: str) -> None:
    pass


class BenchError(EdgelabError):
    """A bench that cannot start: unknown labs, nothing to run, a results file that cannot be written."""


class ResultsFileError(BenchError):
    """A results file that is not one `edgelab bench` wrote: the file and line, and what is wrong there."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}\n(a results file of `edgelab bench` has one JSON object per line; "
                         "docs/bench.md describes them)")


# --- pass@k --------------------------------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of k runs passes, from n runs of which c passed.

    The unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021, "Evaluating
    Large Language Models Trained on Code"), computed exactly; pass@1 = c/n.
    Defined for 1 <= k <= n only: n runs say nothing exact about more than n.
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


# --- one run, as the runner gives it and as a results line holds it --------------------------------------------


class RunLike(Protocol):
    """What bench needs of `agentrun.RunResult` (the fields it reads, and its JSON line)."""

    @property
    def lab(self) -> str: ...
    @property
    def result(self) -> Result: ...
    @property
    def timed_out(self) -> bool: ...
    @property
    def time_limit(self) -> float | None: ...
    @property
    def agent_seconds(self) -> float: ...
    @property
    def requests(self) -> int: ...
    def to_dict(self) -> dict[str, Any]: ...


Runner = Callable[..., RunLike]  # agentrun.run(store, lab_id, agent, *, time_limit, mount, say)

LabId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Seconds = Annotated[float, Field(ge=0)]


class _Line(BaseModel):
    # Other fields of RunResult.to_dict() (exit_code, folder, the whole result...) are kept as they are.
    model_config = ConfigDict(extra="allow", frozen=True)

    lab: LabId
    store: str
    agent: str


class RunLine(_Line):
    """One finished run: the numbers bench reads (the line holds every field of RunResult.to_dict())."""

    repeat: Annotated[StrictInt, Field(ge=1)]
    passed: StrictBool
    score: Annotated[float, Field(ge=0, le=100)]
    timed_out: StrictBool
    time_limit: Seconds | None = None
    agent_seconds: Seconds
    total_seconds: Seconds
    requests: Annotated[StrictInt, Field(ge=0)]
    exit_code: StrictInt | None = None
    findings_source: Literal["file", "stdout", "none"] | None = None
    findings_problem: str | None = None
    started_at: datetime | None = None
    result: dict[str, Any]


class SkipLine(_Line):
    """A lab this store could not run, and why."""

    skipped: Annotated[str, Field(min_length=1)]
    min_nodes: Annotated[StrictInt, Field(ge=1)]
    store_nodes: Annotated[StrictInt, Field(ge=0)]


def parse_line(text: str, path: Path, number: int) -> RunLine | SkipLine:
    """One line of a results file, checked; ResultsFileError names the file, the line and each problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultsFileError(path, f"not JSON ({e.msg} at column {e.colno})", number) from e
    if not isinstance(data, dict):
        raise ResultsFileError(path, f"a line is a JSON object (got {type(data).__name__})", number)
    model: type[RunLine] | type[SkipLine] = SkipLine if "skipped" in data else RunLine
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = [f"{'.'.join(map(str, x['loc'])) or '(line)'}: {x['msg']}"
                    + ("" if x["type"] == "missing" else f" (got {x['input']!r})") for x in e.errors()]
        raise ResultsFileError(path, "; ".join(problems), number) from e


@dataclass(frozen=True)
class Results:
    """A results file, read and checked."""

    path: Path
    lines: list[RunLine | SkipLine]  # in the file's order

    @property
    def runs(self) -> list[RunLine]:
        return [x for x in self.lines if isinstance(x, RunLine)]

    @property
    def skipped(self) -> list[SkipLine]:
        return [x for x in self.lines if isinstance(x, SkipLine)]

    @property
    def agents(self) -> list[str]:
        """The agents the file ran (one for a file `bench` wrote), in order of appearance."""
        return list(dict.fromkeys(x.agent for x in self.lines))


def load(path: Path) -> Results:
    """Read a results file; every line is checked (ResultsFileError: file, line, problem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ResultsFileError(path, f"cannot read: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ResultsFileError(path, "not a text file (not UTF-8)") from e
    lines = [parse_line(raw, path, number) for number, raw in enumerate(text.splitlines(), 1) if raw.strip()]
    if not lines:
        raise ResultsFileError(path, "empty: no runs")
    return Results(path, lines)


# --- summaries -----------------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class LabSummary:
    """One lab's runs: pass@1 = passed / runs; pass@k as `pass_at_k` (None when fewer than k runs)."""

    lab: str
    runs: int
    passed: int
    k: int
    pass_at_1: float | None
    pass_at_k: float | None
    mean_score: float | None
    mean_agent_seconds: float | None
    mean_requests: float | None
    timeouts: int
    total_seconds: float  # lab start to graded, summed over its runs
    skipped: str | None = None  # why the store could not run it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Overall:
    """All labs that ran: pass@1, pass@k and mean score are means over labs (each lab weighs the same);
    mean agent time and requests are over runs; total_seconds is the bench's time in runs."""

    labs: int
    skipped: int
    runs: int
    passed: int
    k: int
    pass_at_1: float | None
    pass_at_k: float | None
    mean_score: float | None
    mean_agent_seconds: float | None
    mean_requests: float | None
    timeouts: int
    total_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(lines: Iterable[RunLine | SkipLine], k: int | None = None) -> tuple[list[LabSummary], Overall]:
    """Per lab, in the lines' order (a skipped lab with its reason), and overall.

    k defaults to the most runs any lab had (a bench's --repeat)."""
    by_lab: dict[str, list[RunLine]] = {}
    reasons: dict[str, str] = {}
    for x in lines:
        runs = by_lab.setdefault(x.lab, [])
        if isinstance(x, SkipLine):
            reasons.setdefault(x.lab, x.skipped)
        else:
            runs.append(x)
    k = k if k is not None else max((len(v) for v in by_lab.values()), default=1) or 1
    if k < 1:
        raise ValueError(f"k must be at least 1 (got {k})")
    labs: list[LabSummary] = []
    for lab, rs in by_lab.items():
        n, c = len(rs), sum(r.passed for r in rs)
        if not n:
            labs.append(LabSummary(lab, 0, 0, k, None, None, None, None, None, 0, 0.0, reasons[lab]))
            continue
        labs.append(LabSummary(
            lab=lab, runs=n, passed=c, k=k, pass_at_1=pass_at_k(n, c, 1),
            pass_at_k=pass_at_k(n, c, k) if k <= n else None,
            mean_score=_mean([r.score for r in rs]), mean_agent_seconds=_mean([r.agent_seconds for r in rs]),
            mean_requests=_mean([r.requests for r in rs]), timeouts=sum(r.timed_out for r in rs),
            total_seconds=sum(r.total_seconds for r in rs)))
    ran = [s for s in labs if s.runs]
    every = [r for rs in by_lab.values() for r in rs]
    at_k = [s.pass_at_k for s in ran if s.pass_at_k is not None]
    overall = Overall(
        labs=len(ran), skipped=len(labs) - len(ran), runs=len(every), passed=sum(r.passed for r in every), k=k,
        pass_at_1=_mean([s.pass_at_1 for s in ran if s.pass_at_1 is not None]),
        pass_at_k=_mean(at_k) if len(at_k) == len(ran) else None,
        mean_score=_mean([s.mean_score for s in ran if s.mean_score is not None]),
        mean_agent_seconds=_mean([r.agent_seconds for r in every]), mean_requests=_mean([r.requests for r in every]),
        timeouts=sum(r.timed_out for r in every), total_seconds=sum(r.total_seconds for r in every))
    return labs, overall


def summary_json(path: Path, labs: Sequence[LabSummary], overall: Overall, **extra: Any) -> dict[str, Any]:
    """The one object `edgelab bench --json` prints."""
    return {"runs": str(path), **extra, "labs": [s.to_dict() for s in labs], "overall": overall.to_dict()}


# --- comparing two results files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabComparison:
    lab: str
    a: LabSummary | None  # None: not in A's file
    b: LabSummary | None

    @property
    def only(self) -> Literal["a", "b"] | None:
        """The one side that ran the lab, when only one did (not in the other file, or skipped there)."""
        ran_a, ran_b = bool(self.a and self.a.runs), bool(self.b and self.b.runs)
        return None if ran_a == ran_b else ("a" if ran_a else "b")

    @property
    def delta_score(self) -> float | None:
        """B's mean score minus A's, in percentage points."""
        if self.a is None or self.b is None or self.a.mean_score is None or self.b.mean_score is None:
            return None
        return self.b.mean_score - self.a.mean_score

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "only": self.only, "a": None if self.a is None else self.a.to_dict(),
                "b": None if self.b is None else self.b.to_dict(), "delta_score": self.delta_score}


@dataclass(frozen=True)
class Comparison:
    """Two results files lab by lab; the overall rows are over the labs both ran, so they compare like with like."""

    a: Results
    b: Results
    labs: list[LabComparison]
    overall_a: Overall
    overall_b: Overall

    @property
    def common(self) -> list[str]:
        return [c.lab for c in self.labs if c.a and c.a.runs and c.b and c.b.runs]

    @property
    def delta_score(self) -> float | None:
        a, b = self.overall_a.mean_score, self.overall_b.mean_score
        return None if a is None or b is None else b - a

    def to_dict(self) -> dict[str, Any]:
        return {"a": {"file": str(self.a.path), "agents": self.a.agents},
                "b": {"file": str(self.b.path), "agents": self.b.agents},
                "labs": [c.to_dict() for c in self.labs],
                "overall": {"labs": self.common, "a": self.overall_a.to_dict(), "b": self.overall_b.to_dict(),
                            "delta_score": self.delta_score}}


def compare(a: Results, b: Results) -> Comparison:
    """A's labs in A's order, then those only B has."""
    labs_a = {s.lab: s for s in summarize(a.lines)[0]}
    labs_b = {s.lab: s for s in summarize(b.lines)[0]}
    rows = [LabComparison(lab, labs_a.get(lab), labs_b.get(lab)) for lab in dict.fromkeys([*labs_a, *labs_b])]
    common = {r.lab for r in rows if r.a and r.a.runs and r.b and r.b.runs}
    return Comparison(a, b, rows, summarize([r for r in a.runs if r.lab in common], k=1)[1],
                      summarize([r for r in b.runs if r.lab in common], k=1)[1])


# --- running a bench -----------------------------------------------------------------------------------------


def parse_time_limit(text: str | None) -> float | None:
    """`90s`, `10m`, `1h` in seconds (the operator's duration format); `none` or empty: no limit."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    try:
        return durations.seconds(text.strip())
    except durations.InvalidFault as e:
        raise BenchError(f"--time-limit {text!r}: give it like 90s, 10m or 1h (or none)") from e


def select_labs(ids: Sequence[str] | None, catalogue: Mapping[str, Lab]) -> list[Lab]:
    """The labs to run, in the order given (every lab, by id, when `ids` is None); duplicates run once."""
    if ids is None:
        return [catalogue[i] for i in sorted(catalogue)]
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise BenchError("--labs names no lab: give lab ids separated by commas (`edgelab lab list` shows them), "
                         "or leave --labs out to run every lab")
    if unknown := [i for i in wanted if i not in catalogue]:
        raise BenchError(f"unknown lab(s) {', '.join(map(repr, unknown))}; the labs are: {', '.join(sorted(catalogue))}")
    return [catalogue[i] for i in wanted]


def default_out(now: datetime | None = None) -> Path:
    """bench-<UTC time>.jsonl in the current directory."""
    return Path(f"bench-{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%dT%H%M%SZ}.jsonl")


def default_runner() -> Runner:
    return run


def store_nodes(store: str) -> int:
    """How many nodes the store has (SessionError when it is not up; BenchError when its API does not answer)."""
    with session.store_api(store) as api:
        try:
            return len(client.CoreV1Api(api).list_node(_request_timeout=30).items)
        except Exception as e:
            raise BenchError(f"cannot list the nodes of store {store} ({type(e).__name__}: {e}); is it running? "
                             f"`edgelab status --store {store}` says") from e


def _open_results(path: Path) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot write the results file {path}: its folder: {e.strerror}; give another --out") from e
    try:
        return path.open("x", encoding="utf-8")  # never into an older bench's file: its numbers would mix
    except FileExistsError as e:
        raise BenchError(f"results file {path} exists already; give another --out (one file holds one bench)") from e
    except OSError as e:
        raise BenchError(f"cannot write the results file {path}: {e.strerror}; give another --out") from e


def _check_writable(path: Path, what: str) -> None:
    """Say now, not after an hour of runs, that a report cannot be written where asked."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if (not folder.is_dir() or path.is_dir() or not os.access(folder, os.W_OK | os.X_OK)
            or (path.exists() and not os.access(path, os.W_OK))):
        raise BenchError(f"cannot write the {what} {path}: not writable; choose another path")


def timed_out_note(r: RunLike) -> str:
    """The note a timed-out run's JUnit failure carries."""
    return f"timed out after {r.time_limit if r.time_limit is not None else r.agent_seconds:g}s" if r.timed_out else ""


@dataclass
class Bench:
    """A bench as it ran: its file, every line written, the runs (for JUnit); `interrupted` after Ctrl-C."""

    path: Path
    store: str
    agent: str
    repeat: int
    lines: list[RunLine | SkipLine] = field(default_factory=list)  # as written, checked as `load` checks them
    runs: list[tuple[int, RunLike]] = field(default_factory=list)
    interrupted: bool = False

    def summary(self) -> tuple[list[LabSummary], Overall]:
        return summarize(self.lines, k=self.repeat)

    def cases(self) -> list[Case]:
        """One JUnit case per run: class = the lab, name = lab#repeat."""
        return [Case(r.result, f"{r.lab}#{i}", classname=r.lab, seconds=r.agent_seconds,
                     note=timed_out_note(r),
                     properties={"timed_out": str(r.timed_out).lower(), "agent_seconds": f"{r.agent_seconds:.1f}",
                                 "requests": str(r.requests)})
                for i, r in self.runs]

    def write_junit(self, path: Path) -> Path:
        return write_junit(self.cases(), path, suite="edgelab bench")


def bench(store: str, agent: str, *, labs: Sequence[str] | None = None, repeat: int = 1,
          time_limit: float | None = None, mount: Path | None = None, out: Path | None = None,
          junit: Path | None = None, say: Say = _quiet, runner: Runner | None = None,
          nodes: Callable[[str], int] | None = None, catalogue: Mapping[str, Lab] | None = None) -> Bench:
    """Run each lab `repeat` times with `agent` on `store`; one JSON line per run in `out` as it ends.

    Everything that can be checked is checked before the first run: the labs,
    `repeat`, the agent, the store (its node count: `nodes`, the store's by
    default, raises for a store that is not up) and both files. Ctrl-C stops
    the bench: the Bench returned says `interrupted`, its finished runs are in
    the file (and in `junit`, written at the end either way). Errors of the
    runner (a store that went away) propagate; the file keeps what finished.
    """
    if catalogue is None:
        catalogue = labslib.load_all()
    plan = select_labs(labs, catalogue)
    if repeat < 1:
        raise BenchError(f"--repeat {repeat}: each lab runs at least once (--repeat 1 or more)")
    if not agent.strip():
        raise BenchError("--agent is empty: give the command that runs your agent, e.g. --agent 'python3 agent.py'")
    if mount is not None and not Path(mount).is_dir():
        raise BenchError(f"--mount {mount}: not a directory")
    if time_limit is not None and time_limit <= 0:
        raise BenchError(f"the time limit must be positive (got {time_limit:g} seconds)")
    have = (nodes or store_nodes)(store)
    run = runner or default_runner()
    path = Path(out) if out is not None else default_out()
    if junit is not None:
        _check_writable(Path(junit), "JUnit report")
    b = Bench(path, store, agent, repeat)
    with _open_results(path) as f:
        say(f"results: {path}")

        def write(line: dict[str, Any]) -> None:
            text = json.dumps(line, default=str)
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
            b.lines.append(parse_line(text, path, len(b.lines) + 1))  # what `load` will read, checked now

        try:
            for n, lab in enumerate(plan, 1):
                if lab.min_nodes > have:
                    why = f"needs {lab.min_nodes} nodes; store {store} has {have}"
                    say(f"[{n}/{len(plan)}] {lab.id}: skipped ({why})")
                    write({"lab": lab.id, "store": store, "agent": agent, "skipped": why,
                           "min_nodes": lab.min_nodes, "store_nodes": have})
                    continue
                for i in range(1, repeat + 1):
                    tag = f"[{n}/{len(plan)}] {lab.id}#{i}"
                    say(f"{tag}: running")
                    r = run(store, lab.id, agent, time_limit=time_limit, mount=mount,
                            say=lambda m, tag=tag: say(f"{tag}: {m}"))
                    write({**r.to_dict(), "repeat": i, "agent": agent})
                    b.runs.append((i, r))
                    say(f"{tag}: {'passed' if r.result.passed else 'not passed'}, {r.result.score:g}%"
                        + (", timed out" if r.timed_out else "") + f", {r.agent_seconds:.0f}s, {r.requests} requests")
        except KeyboardInterrupt:
            b.interrupted = True
            say(f"interrupted: {len(b.runs)} finished run(s) are in {path}")
        finally:
            if junit is not None:
                b.write_junit(Path(junit))
    return b


# --- the tables a person reads (the CLI draws them) ----------------------------------------------------------


def pct(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:.{digits}f}%"


def num(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def prob(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def summary_columns(k: int) -> list[str]:
    return ["lab", "runs", "passed", "pass@1", f"pass@{k}", "mean score", "agent s", "requests", "timeouts"]


def summary_rows(labs: Sequence[LabSummary], overall: Overall) -> list[list[str]]:
    """One row per lab (a skipped lab says why), then the overall row."""
    rows = []
    for s in labs:
        if s.skipped:
            rows.append([s.lab, "0", "-", "-", "-", "-", "-", "-", "-", f"skipped: {s.skipped}"])
            continue
        rows.append([s.lab, str(s.runs), str(s.passed), prob(s.pass_at_1), prob(s.pass_at_k), pct(s.mean_score, 1),
                     num(s.mean_agent_seconds), num(s.mean_requests, digits=1), str(s.timeouts)])
    rows.append([f"overall ({overall.labs} lab{'' if overall.labs == 1 else 's'})", str(overall.runs),
                 str(overall.passed), prob(overall.pass_at_1), prob(overall.pass_at_k), pct(overall.mean_score, 1),
                 num(overall.mean_agent_seconds), num(overall.mean_requests, digits=1), str(overall.timeouts),
                 f"{overall.total_seconds / 60:.1f} min in all"])
    return rows


COMPARE_COLUMNS = ["lab", "pass@1 A", "pass@1 B", "score A", "score B", "Δ score", "agent s A", "agent s B",
                   "requests A", "requests B", ""]


def compare_rows(c: Comparison) -> list[list[str]]:
    """One row per lab either file ran (marked when only one did, or one skipped it), then the overall row."""
    def delta(x: float | None) -> str:
        return "-" if x is None else f"{x:+.1f}"

    def side(s: LabSummary | None, name: str) -> str:
        return f"not in {name}" if s is None else f"skipped in {name}: {s.skipped}" if s.skipped else ""

    def of(s: LabSummary | None, attr: str) -> float | None:
        return None if s is None else getattr(s, attr)

    rows = []
    for row in c.labs:
        x, y = row.a, row.b
        note = "; ".join(filter(None, (side(x, "A"), side(y, "B"))))
        rows.append([row.lab, prob(of(x, "pass_at_1")), prob(of(y, "pass_at_1")), pct(of(x, "mean_score"), 1),
                     pct(of(y, "mean_score"), 1), delta(row.delta_score), num(of(x, "mean_agent_seconds")),
                     num(of(y, "mean_agent_seconds")), num(of(x, "mean_requests"), digits=1),
                     num(of(y, "mean_requests"), digits=1), note])
    oa, ob = c.overall_a, c.overall_b
    n = len(c.common)
    rows.append([f"overall ({n} lab{'' if n == 1 else 's'} both ran)", prob(oa.pass_at_1), prob(ob.pass_at_1),
                 pct(oa.mean_score, 1), pct(ob.mean_score, 1), delta(c.delta_score), num(oa.mean_agent_seconds),
                 num(ob.mean_agent_seconds), num(oa.mean_requests, digits=1), num(ob.mean_requests, digits=1), ""])
    return rows
