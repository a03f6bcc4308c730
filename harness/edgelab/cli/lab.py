"""`edgelab lab` (a ticket, a really broken store, a graded investigation) and `edgelab progress`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from edgelab.agents import bench as agentbench
from edgelab.agents import run as agentrun
from edgelab.cli.common import (
    JsonOpt,
    Reporter,
    StoreOpt,
    Typer,
    err,
    out,
    show_json,
    show_table,
)
from edgelab.drill import drills as drill
from edgelab.labs import attempts, catalogue, grading, interview, progress, session, vocab

lab_app = Typer(help="Labs: a ticket, a really broken store, a graded investigation.\n\n"
                "An instructor (or CI) starts a lab on a store; the learner investigates with the learner's "
                "kubectl (edgelab shell) and submits findings; the grade explains every point.\n\n"
                "Example: edgelab lab start pos-down-4523 --store 4523",
                no_args_is_help=True)


@lab_app.command("list")
def lab_list(as_json: JsonOpt = False) -> None:
    """The labs: id, level, title, points (titles and tickets never name the cause).

    Example: edgelab lab list
    """
    found = catalogue.load_all()
    if as_json:
        show_json([{"id": lab.id, "title": lab.title, "level": lab.level, "points": lab.points,
                    "pass_threshold": lab.pass_threshold, "min_nodes": lab.min_nodes} for lab in found.values()])
        raise typer.Exit(0)
    for lab in found.values():
        nodes = f", {lab.min_nodes}+ nodes" if lab.min_nodes > 1 else ""
        out.print(f"{lab.id:26} {lab.level:12} {lab.points:3} pts{nodes}  {lab.title}")
    raise typer.Exit(0)


@lab_app.command("show")
def lab_show(
    lab_id: Annotated[str, typer.Argument(metavar="ID")],
    store: Annotated[str, typer.Option("--store", "-s", metavar="ID", help="The store the ticket names.")] = "4523",
    as_json: JsonOpt = False,
) -> None:
    """The lab's ticket and what the learner is asked to do (no answers).

    Example: edgelab lab show pos-down-4523
    """
    lab = catalogue.get(lab_id)
    ticket, objectives = vocab.fill(lab.ticket, {"store": store}), attempts.objectives(lab)
    if as_json:
        show_json({"id": lab.id, "title": lab.title, "level": lab.level, "points": lab.points,
                   "pass_threshold": lab.pass_threshold, "ticket": ticket, "objectives": objectives})
        raise typer.Exit(0)
    out.print(f"[bold]{lab.title}[/bold] ({lab.id}, {lab.level}, {lab.points} points, pass at {lab.pass_threshold:g}%)\n")
    out.print(f"ticket: {ticket}\n", markup=False)
    for o in objectives:
        out.print(f"  - {o}", markup=False)
    raise typer.Exit(0)


def _show_ticket(store: str, lab: catalogue.Lab, run: session.Running, as_json: bool) -> None:
    """The ticket of a lab just started or reset, for a person or as JSON."""
    if as_json:
        show_json({"lab": lab.id, "title": lab.title, "store": store, "ticket": attempts.ticket(lab, run.attempt),
                   "started_at": run.attempt.started_at.isoformat(), "hint_cost": lab.hint_cost})
        return
    out.print(f"[bold]{lab.title}[/bold] — store {store}\n\n{attempts.ticket(lab, run.attempt)}\n\n"
              f"investigate:  edgelab shell --store {store}\n"
              f"hint:         edgelab lab hint --store {store}"
              + (f"   (each hint costs {lab.hint_cost:g}% of the score)\n" if lab.hint_cost else "\n") +
              f"submit:       edgelab lab submit --store {store} [--findings FILE]")


@lab_app.command("start")
def lab_start(
    lab_id: Annotated[str, typer.Argument(metavar="ID", help="A lab from `edgelab lab list`.")],
    store: StoreOpt,
    target: Annotated[list[str] | None, typer.Option(metavar="NAMESPACE/DEPLOYMENT", help="Instructors: namespace/deployment per fault "
                                                      "instead of a random draw.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reset the store to healthy, break it the lab's way, print the ticket. Reuses the running store.

    Example: edgelab lab start pos-down-4523 --store 4523
    """
    progress = Reporter(as_json)
    lab, run = session.start(store, lab_id, say=progress.say, targets=target or None)
    _show_ticket(store, lab, run, as_json)
    raise typer.Exit(0)


@lab_app.command("hint")
def lab_hint(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """The next hint of the running lab; each one shown takes a few percent off the score (the lab says how many).

    Example: edgelab lab hint --store 4523
    """
    text, n, total, cost = session.hint(store)
    if as_json:
        show_json({"hint": text, "number": n, "of": total, "cost_each": cost, "cost_so_far": n * cost})
        raise typer.Exit(0)
    out.print(f"hint {n}/{total}: {text}", markup=False, soft_wrap=True)
    if cost:
        err.print(f"(hints shown so far cost {n * cost:g}% of the score)")
    raise typer.Exit(0)


def prompt_findings() -> str:
    """Ask for each finding on the terminal (prompts on stderr, so `--json` output stays clean).

    A pod state or root cause outside the vocabulary is asked again at once, with the
    choices; evidence takes one quote per line until an empty line; node may stay empty.
    """
    def ask(text: str, check: interview.Check | None = None, optional: bool = False) -> str:
        kw: dict[str, Any] = {"default": "", "show_default": False} if optional else {}
        if check is not None:
            kw["value_proc"] = _parameter(check)
        return str(typer.prompt(text, err=True, **kw)).strip()

    err.print("Your findings (or write them to a file: `edgelab lab submit --findings FILE`).")
    return interview.findings(ask)


def _parameter(check: interview.Check) -> Callable[[str], str]:
    """A check as a prompt's value_proc: a wrong answer is said and asked again."""
    def proc(value: str) -> str:
        try:
            return check(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
    return proc


@lab_app.command("template")
def lab_template() -> None:
    """Print a findings file to fill in (for `lab submit --findings FILE`).

    Example: edgelab lab template > findings.yaml
    """
    print(grading.FINDINGS_TEMPLATE, end="")
    raise typer.Exit(0)


@lab_app.command("causes")
def lab_causes(as_json: JsonOpt = False) -> None:
    """The root-cause vocabulary a findings file uses (synonyms are accepted too).

    Example: edgelab lab causes
    """
    if as_json:
        show_json({cause: list(synonyms) for cause, synonyms in vocab.ROOT_CAUSES.items()})
        raise typer.Exit(0)
    for cause, synonyms in vocab.ROOT_CAUSES.items():
        out.print(f"{cause:28} [dim]{', '.join(synonyms[:4])}[/dim]")
    raise typer.Exit(0)


@lab_app.command("submit")
def lab_submit(
    store: StoreOpt,
    findings: Annotated[Path | None, typer.Option(metavar="FILE", help="YAML/JSON findings: namespace, workload, pod_state, "
                                                  "root_cause, evidence (list), node (when one is involved). "
                                                  "Prompts when omitted.")] = None,
    learner: Annotated[str, typer.Option(metavar="NAME", help="Whose attempt this is, for `edgelab progress`.")] = "learner",
    junit: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write a JUnit XML report (CI).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grade the running lab: your kubectl requests since the start, your findings, the store's state.

    Exit 0 only when passed. A malformed findings file is reported and costs no attempt.

    Start a findings file from the template: edgelab lab template > findings.yaml

    Example: edgelab lab submit --store 4523 --findings findings.yaml
    """
    if session.running(store) is None:
        raise session.SessionError(f"no lab is running on store {store} (edgelab lab start ID --store {store})")
    answer = grading.parse_findings(findings if findings else prompt_findings())
    result = session.submit(store, answer, learner=learner, say=Reporter(as_json).say)
    if junit:
        progress.write_junit([result], junit)
    if as_json:
        show_json(result.to_dict(), default=str)
    else:
        out.print(result.explain(), markup=False)
        if result.debrief is not None:
            out.print("\n" + result.debrief.render(), markup=False)
    raise typer.Exit(0 if result.passed else 1)


@lab_app.command("reset")
def lab_reset(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """Start the running lab again on a freshly reset store (a new draw of its targets).

    Example: edgelab lab reset --store 4523
    """
    progress = Reporter(as_json)
    lab, run = session.reset(store, say=progress.say)
    _show_ticket(store, lab, run, as_json)
    raise typer.Exit(0)


@lab_app.command("stop")
def lab_stop(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """End the running lab without grading; the store is healthy again afterwards.

    Example: edgelab lab stop --store 4523
    """
    was = session.stop(store, say=Reporter(as_json).say)
    if as_json:
        show_json({"stopped": was, "store": store, "healthy": True})
        raise typer.Exit(0)
    out.print(f"stopped lab {was}; store {store} is healthy" if was else f"no lab was running; store {store} is healthy")
    raise typer.Exit(0)


@lab_app.command("run")
def lab_run(
    lab_id: Annotated[str, typer.Argument(metavar="ID", help="A lab from `edgelab lab list`.")],
    store: StoreOpt,
    agent: Annotated[str, typer.Option(metavar="COMMAND", help="The command that investigates, run with `sh -c` in the agent "
                                       "container, e.g. \"python3 agents/baseline.py\".")],
    time_limit: Annotated[str | None, typer.Option(metavar="DURATION", help="Stop the agent after this long (90s, 10m, 1h); "
                                                   "what it did until then is graded.")] = None,
    mount: Annotated[Path | None, typer.Option(metavar="DIR", help="Folder seen read-only as /agent, the working directory "
                                               "(default: this one; its labs/ and drills/ are hidden).")] = None,
    image: Annotated[str | None, typer.Option(metavar="IMAGE", help="Run in this image instead of edgelab's agent image "
                                              "(it must have sh and whatever COMMAND needs).")] = None,
    env: Annotated[list[str] | None, typer.Option(metavar="VAR", help="Pass this variable of your environment to the agent "
                                                  "(e.g. an API key); repeatable.")] = None,
    learner: Annotated[str, typer.Option(metavar="NAME", help="Whose attempt this is, for `edgelab progress`.")] = "agent",
    target: Annotated[list[str] | None, typer.Option(metavar="NAMESPACE/DEPLOYMENT", help="Instructors: namespace/deployment per fault "
                                                      "instead of a random draw.")] = None,
    junit: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write a JUnit XML report (CI).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Graded run for a program: start the lab, run COMMAND against it, grade it like a person.

    COMMAND runs in a container with the ticket ($EDGELAB_TICKET and stdin), its own
    kubeconfig ($KUBECONFIG, the learner's rights) and nothing of this machine's
    edgelab state. It writes its findings (`edgelab lab template`) to
    $EDGELAB_FINDINGS or prints them. Exit 0 only when passed. docs/agents.md has
    the whole interface.

    Example: edgelab lab run pos-down-4523 --store 4523 --agent "python3 agents/baseline.py" --time-limit 5m
    """
    limit = drill.seconds(time_limit) if time_limit else None
    run = agentrun.run(store, lab_id, agent, time_limit=limit, mount=mount, image=image, env=tuple(env or ()),
                       learner=learner, say=Reporter(as_json).say, targets=target or None)
    if junit:
        progress.write_junit([progress.Case(
            run.result, run.lab, seconds=run.agent_seconds, note=agentbench.timed_out_note(run))], junit)
    if as_json:
        show_json(run.to_dict())
    else:
        out.print(run.summary(), markup=False, soft_wrap=True)
        out.print(run.result.explain(), markup=False)
        if run.result.debrief is not None:
            out.print("\n" + run.result.debrief.render(), markup=False)
    raise typer.Exit(0 if run.passed else 1)


def progress_cmd(
    learner: Annotated[str | None, typer.Option(metavar="NAME", help="Only this learner.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Attempts, best score, pass rate and passed, per learner and lab.

    The database is $EDGELAB_PROGRESS_DB, else ~/.local/state/edgelab/progress.sqlite.

    Example: edgelab progress --learner alice
    """
    with progress.Progress() as p:
        rows = progress.summary_dicts(p.summary(learner))
    if as_json:
        show_json(rows)
    elif not rows:
        out.print("no attempts yet")
    else:
        show_table(progress.SUMMARY_COLUMNS, progress.summary_rows(rows))
    raise typer.Exit(0)
