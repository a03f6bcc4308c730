"""`edgelab bench`: benchmarks of agents, and two results files compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgelab.agents import bench as agentbench
from edgelab.cli.common import (
    PASSES,
    JsonOpt,
    Reporter,
    Typer,
    fail,
    out,
    show_json,
    show_table,
)

bench_app = Typer(no_args_is_help=True, invoke_without_command=True, subcommand_metavar="| compare A.jsonl B.jsonl")


def _render_bench(path: Path, labs: list[Any], overall: Any, agent: str, store: str) -> None:
    """The bench's table: agentbench.LabSummary rows, then agentbench.Overall."""
    show_table(agentbench.summary_columns(overall.k), agentbench.summary_rows(labs, overall), bold_last=True,
               title=f"agent {agent!r} on store {store}", title_justify="left")
    out.print(f"results: {path}", markup=False, highlight=False)


@bench_app.callback()
def bench(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(metavar="COMMAND", help="Required: the command that runs your agent "
                                              "(run with `sh -c` in the agent container; see docs/agents.md).")] = None,
    store: Annotated[str | None, typer.Option("--store", "-s", metavar="ID", help="Required: the store to run on (it must be "
                                              "up; one run at a time).")] = None,
    labs: Annotated[str | None, typer.Option(metavar="ID,ID,...", help="Only these labs, in this order "
                                             "(default: every lab; `edgelab lab list`).")] = None,
    repeat: Annotated[int, typer.Option(metavar="N", help="Runs of each lab; pass@N is reported.")] = 1,
    time_limit: Annotated[str, typer.Option(metavar="DURATION", help="Each run's limit, like 90s, 10m, 1h "
                                            "(`none`: no limit); over it the agent is stopped and graded on what "
                                            "it did.")] = "10m",
    mount: Annotated[Path | None, typer.Option(metavar="DIR", help="The agent's working directory /agent, read-only "
                                               "(default: the current directory).")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", metavar="FILE.jsonl", help="The results file, one JSON "
                                                  "line per run (default: bench-<UTC time>.jsonl here; must not "
                                                  "exist).")] = None,
    junit: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write a JUnit XML report: one test case "
                                               "per run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout at the end (progress "
                                          "stays on stderr).")] = False,
) -> None:
    """Benchmark an agent: run labs N times each on one store, grade every run, report pass@k.

    Each run is `edgelab lab run` (docs/agents.md): the lab starts, the agent
    investigates with its own identity and writes findings, the run is graded
    like `lab submit`. Every run appends one JSON line to the results file as
    it ends, so Ctrl-C loses nothing finished. Labs needing more nodes than the
    store has are skipped (a line says why). At the end, a table per lab: runs,
    passed, pass@1, pass@N, mean score, mean agent seconds, mean requests,
    timeouts, and an overall row. Exit 0 once every run is recorded, passed or
    not; 130 when interrupted. docs/bench.md explains every column.

    Compare two agents' results files: edgelab bench compare A.jsonl B.jsonl (`edgelab bench compare --help`)

    Example: edgelab bench --agent 'python3 agents/baseline.py' --store 4523 --repeat 3 --junit bench.xml
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        if agent is None or store is None:
            raise agentbench.BenchError("give the agent and the store: edgelab bench --agent COMMAND --store S "
                                        "(edgelab bench --help)")
        progress = Reporter(quiet=False)
        b = agentbench.bench(store, agent, labs=None if labs is None else labs.split(","), repeat=repeat,
                             time_limit=agentbench.parse_time_limit(time_limit), mount=mount, out=out_file,
                             junit=junit, say=progress.say)
        lab_rows, overall = b.summary()
    except PASSES:
        raise
    except Exception as exc:
        raise fail(exc) from exc
    if as_json:
        show_json(agentbench.summary_json(b.path, lab_rows, overall, agent=agent, store=store,
                                          interrupted=b.interrupted,
                                          junit=None if junit is None else str(junit)))
    else:
        _render_bench(b.path, lab_rows, overall, agent, store)
        if junit:
            out.print(f"JUnit: {junit}", markup=False, highlight=False)
    raise typer.Exit(130 if b.interrupted else 0)


@bench_app.command("compare")
def bench_compare(
    a: Annotated[Path, typer.Argument(metavar="A.jsonl", help="A results file of `edgelab bench` (the baseline).")],
    b: Annotated[Path, typer.Argument(metavar="B.jsonl", help="Another one (the Δ columns are B minus A).")],
    as_json: JsonOpt = False,
) -> None:
    """Two results files side by side, lab by lab: pass@1, mean score and its change, mean agent time, requests.

    Labs only one file ran are marked and left out of the overall row, which
    is over the labs both ran. Each file's agent is named from its lines.

    Example: edgelab bench compare bench-baseline.jsonl bench-mine.jsonl
    """
    c = agentbench.compare(agentbench.load(a), agentbench.load(b))
    if as_json:
        show_json(c.to_dict())
        raise typer.Exit(0)
    out.print(f"A: {a} (agent {', '.join(map(repr, c.a.agents))})\nB: {b} (agent {', '.join(map(repr, c.b.agents))})",
              markup=False, highlight=False)
    show_table(agentbench.COMPARE_COLUMNS, agentbench.compare_rows(c), bold_last=True)
    raise typer.Exit(0)
