"""`edgelab drill`: instructor fault drills (a plan, a clock, a scoreboard)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from edgelab.cli.common import (
    JsonOpt,
    Reporter,
    Typer,
    err,
    out,
    show_json,
    show_table,
)
from edgelab.drill import drills as drill
from edgelab.drill import page as drillpage
from edgelab.drill import report as drillreport
from edgelab.labs import grading
from edgelab.machine import prepare

drill_app = Typer(help="Instructor fault drills: a plan of incidents over several stores, a clock, a scoreboard.\n\n"
                  "Example: edgelab drill start lunch-rush",
                  no_args_is_help=True)


PlanArg = Annotated[str, typer.Argument(metavar="PLAN", help="A plan file, or the name of one in drills/ "
                                                             "(e.g. lunch-rush).")]


@drill_app.command("check")
def drill_check(plan: PlanArg, as_json: JsonOpt = False) -> None:
    """Check a drill plan against its schema (stores, responders, timeline, labs and faults that exist).

    Example: edgelab drill check lunch-rush
    """
    p = drill.load_plan(drill.find_plan(plan))
    if as_json:
        print(p.model_dump_json())
    else:
        out.print(f"plan {p.name} is valid: {len(p.stores)} store(s), {len(p.responders)} responder(s), "
                  f"{len(p.timeline)} incident(s)")
    raise typer.Exit(0)


def _render_status(st: dict[str, Any]) -> None:
    out.print(drill.status_headline(st))
    show_table(drill.INCIDENT_COLUMNS, drill.incident_rows(st))
    show_table(drill.RESPONDER_COLUMNS, drill.responder_rows(st))


@drill_app.command("start")
def drill_start(plan: PlanArg, as_json: JsonOpt = False) -> None:
    """Bring the plan's stores up, issue every responder's kubeconfig, reset the stores, start the drill's clock.

    The clock runs on its own: close the terminal, `edgelab drill status` picks the drill up again.

    Example: edgelab drill start lunch-rush
    """
    progress = Reporter(as_json)
    path = drill.find_plan(plan)
    drill.load_plan(path)  # every problem of the plan before anything starts
    try:
        artifacts = prepare.setup(report=progress.step)
        folder = drill.start(path, artifacts, say=progress.say)
    except KeyboardInterrupt:
        err.print("interrupted: no drill was started (stores already up stay up); run the same command again")
        raise typer.Exit(130) from None
    st = drill.status(folder)
    if as_json:
        show_json(st)
    else:
        _render_status(st)
        out.print("Give each responder their kubeconfig and token (`edgelab drill status --json` lists both). "
                  "They submit through the scoreboard (`edgelab drill serve`: POST /submit with their token), "
                  "or you do: `edgelab drill submit NAME --findings FILE`.", markup=False)
    raise typer.Exit(0)


@drill_app.command("status")
def drill_status(
    watch: Annotated[bool, typer.Option(help="Show it again every 5 seconds until Ctrl-C.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Where the drill is: its clock, each incident (planned, began, recovered), each responder's submissions.

    A running drill whose clock stopped (the machine rebooted) gets its clock back.

    Example: edgelab drill status --watch
    """
    while True:
        st = drill.status()
        if as_json:
            show_json(st)
            raise typer.Exit(0)
        if watch:
            out.clear()
        _render_status(st)
        if not watch or st["state"] != "running":
            raise typer.Exit(0)
        try:
            time.sleep(5)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


@drill_app.command("submit")
def drill_submit(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The responder, as in the plan.")],
    findings: Annotated[Path, typer.Option(metavar="FILE", help="YAML/JSON findings (`edgelab lab template` prints one).")],
    incident: Annotated[str | None, typer.Option(metavar="ID", help="Which incident (default: the latest begun on their "
                                                      "store).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grade one responder's findings for the incident on their store (their own requests, by their name).

    Example: edgelab drill submit alice --findings findings.yaml
    """
    answer = grading.parse_findings(findings)
    inc, result = drill.submit(name, answer, incident=incident)
    if as_json:
        show_json({"responder": name, "incident": inc["id"], **result.to_dict()}, default=str)
    else:
        out.print(f"{name}, incident {inc['id']} on store {inc['store']}:\n" + result.explain(), markup=False)
    raise typer.Exit(0 if result.passed else 1)


@drill_app.command("hint")
def drill_hint(name: Annotated[str, typer.Argument(metavar="NAME")], as_json: JsonOpt = False) -> None:
    """The next hint for a responder's incident; it costs them the lab's hint cost.

    Example: edgelab drill hint alice
    """
    inc, text, n, total = drill.hint(name)
    if as_json:
        show_json({"responder": name, "incident": inc["id"], "hint": text, "number": n, "of": total})
    else:
        out.print(f"{name}, hint {n}/{total}: {text}", markup=False, soft_wrap=True)
    raise typer.Exit(0)


@drill_app.command("stop")
def drill_stop(as_json: JsonOpt = False) -> None:
    """End the drill: its clock stops, its audit trail is kept, every fault reverted, every store healthy.

    Example: edgelab drill stop
    """
    st = drill.finish(say=Reporter(as_json).say)
    if as_json:
        show_json({"name": st["name"], "state": st["state"], "ended_at": st["ended_at"],
                   "stores": [s["id"] for s in st["stores"]], "healthy": True})
    else:
        out.print(f"drill {st['name']} {st['state']}; stores {', '.join(s['id'] for s in st['stores'])} are healthy. "
                  "Report: edgelab drill report")
    raise typer.Exit(0)


@drill_app.command("report")
def drill_report(
    html: Annotated[Path | None, typer.Option(metavar="FILE", help="Write the scoreboard page as one static HTML file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The scoreboard: per responder and incident, times, the shape of the investigation, the ranking and why.

    Example: edgelab drill report --html scoreboard.html
    """
    rep = drill.report()
    if html:
        html.write_text(drillpage.render(rep))
    if as_json:
        show_json(rep)
        raise typer.Exit(0)
    out.print(f"[bold]{rep['drill']['title']}[/bold] ({rep['drill']['state']})")
    show_table(drillreport.SCOREBOARD_COLUMNS, drillreport.scoreboard_rows(rep))
    for r in rep["responders"]:
        out.print(f"{r['rank']}. {r['name']}: {r['why']}", markup=False)
    if html:
        err.print(f"wrote {html}")
    raise typer.Exit(0)


@drill_app.command("serve")
def drill_serve(
    host: Annotated[str, typer.Option(metavar="ADDR", help="Address to serve on (the class network's, for the whole class).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port.")] = 8080,
) -> None:
    """Serve the scoreboard page; it refreshes itself every few seconds during the drill. Ctrl-C ends it.

    Example: edgelab drill serve --host 192.168.1.20 --port 8080
    """
    folder = drill.need()
    st = drill.read(folder)
    server = drillpage.serve(lambda: drill.report_cached(folder), host, port,
                             submit=lambda token, body: drill.submit_http(folder, token, body), key=st.get("key"))
    url = f"http://{host}:{server.server_address[1]}"
    out.print(f"scoreboard of drill {st['name']} (yours: it names the answers): {url}/?key={st.get('key', '')}\n"
              "(Ctrl-C to stop serving; the drill goes on)\n"
              f"responders submit with: curl -H 'Authorization: Bearer TOKEN' --data-binary @findings.yaml "
              f"{url}/submit", markup=False, soft_wrap=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    raise typer.Exit(0)
