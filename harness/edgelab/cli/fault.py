"""`edgelab fault`: instructors inject real failures into a store and revert them exactly."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from edgelab.cli.common import (
    JsonOpt,
    StoreOpt,
    Typer,
    err,
    out,
    show_json,
)
from edgelab.kube import faults as faultlib
from edgelab.store import stores

fault_app = Typer(help="Instructors: inject real failures into a store and revert them exactly.\n\n"
                  "Each fault is a Fault resource that the store's operator turns into an ordinary-looking "
                  "change (a release, a config edit, a scale, a policy, a failed node); clearing it restores "
                  "every touched object.\n\nExample: edgelab fault inject crash-on-start --store 4523",
                  no_args_is_help=True)


@fault_app.command("list")
def fault_list(as_json: JsonOpt = False) -> None:
    """Fault types: the course cause each plays, what it changes, the symptom, its targets.

    Example: edgelab fault list --json
    """
    types = faultlib.catalogue().types
    if as_json:
        show_json([{"type": t.name, "course": t.course, "summary": t.summary, "symptom": t.symptom,
                    "symptom_seconds": t.symptom_seconds, "targets": list(t.targets)} for t in types.values()])
        raise typer.Exit(0)
    for t in types.values():
        out.print(f"[bold]{t.name}[/bold]  [dim]{t.course}[/dim]\n  {t.summary}\n  symptom (≤{t.symptom_seconds}s): "
                  f"{t.symptom}\n  targets: {', '.join(t.targets)}")
    raise typer.Exit(0)


@fault_app.command("inject")
def fault_inject(
    fault_type: Annotated[str, typer.Argument(metavar="TYPE", help="A type from `edgelab fault list`.")],
    store: StoreOpt,
    target: Annotated[str | None, typer.Option(metavar="NAMESPACE/DEPLOYMENT", help="namespace/deployment (default: the type's first target).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", metavar="NAME=VALUE", help="name=value for the type's parameters.")] = None,
    duration: Annotated[str | None, typer.Option(metavar="DURATION", help="Revert by itself after this long: 90s, 15m, 2h.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Inject a fault into store STORE and wait until it is applied.

    Example: edgelab fault inject crash-on-start --store 4523 --target pos/pos-backend
    """
    f = stores.fault_client(store)
    obj = f.inject(fault_type, target, faultlib.parse_params(param or []), duration)
    info = faultlib.FaultInfo.of(obj)
    if as_json:
        show_json(asdict(info))
    else:
        out.print(f"fault [bold]{info.name}[/bold] ({info.type}) is {info.phase} on {info.target}\n  expect: {info.message}\n"
                  f"  clear:  edgelab fault clear --store {store} {info.name}")
    raise typer.Exit(0)


@fault_app.command("status")
def fault_status(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """The faults of store STORE: phase (Applying, Active, Rejected, Reverting, Stuck) and each touched target.

    Each target (an object changed, pods restarted, a node stopped) shows its
    own phase: Pending, Injected, Recovered or NotRecovered with the reason.

    Example: edgelab fault status --store 4523
    """
    infos = [faultlib.FaultInfo.of(o) for o in stores.fault_client(store).list_faults()]
    if as_json:
        show_json([asdict(i) for i in infos])
    elif not infos:
        out.print(f"store {store} has no faults")
    else:
        for i in infos:
            out.print(f"{i.name:32} {i.type:24} {i.target:28} {i.phase:10} {i.message}")
            for r in i.records:
                where = f"{r['namespace']}/{r['name']}" if r["namespace"] else r["name"]
                out.print(f"  {r['kind']:12} {where:44} {r['phase']:12} {r['message']}", highlight=False)
    raise typer.Exit(0)


@fault_app.command("clear")
def fault_clear(
    store: StoreOpt,
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="The fault to clear (see `edgelab fault status`).")] = None,
    all_faults: Annotated[bool, typer.Option("--all", help="Clear every fault of the store.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Let fault NAME go without waiting for its revert (after `clear` said it is stuck): "
                        "prints what is not back and saves its snapshots for `kubectl replace -f`.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Revert faults exactly (every touched object back as it was) and wait until the store got them back.

    Waits each fault's own recover time and no longer; a fault that cannot be
    put back (a node that stays down) says what is left, and `--force NAME`
    lets it go.

    Example: edgelab fault clear --store 4523 --all
    """
    if bool(name) == all_faults or (force and not name):
        err.print("[red]error:[/red] name one fault, or give --all (--force needs a name)")
        raise typer.Exit(2)
    if force and name:
        released = stores.fault_client(store).force_clear(name, stores.state_dir(store) / "released")
        if as_json:
            show_json({"released": released.name, "left": released.left,
                       "saved": str(released.saved) if released.saved else None})
        elif not released.left:
            out.print(f"released {name}; everything it touched was already back")
        else:
            out.print(f"released {name} without a complete revert. Left for a person to do:")
            for line in released.left:
                out.print(f"  - {line}", highlight=False)
            if released.saved:
                out.print(f"  what those objects were before the fault: {released.saved}\n"
                          f"  (kubectl --kubeconfig {stores.paths(store).admin_kubeconfig} replace -f {released.saved})",
                          highlight=False)
            out.print("  a node agent left on a stopped node starts its kubelet again as soon as the node runs")
        raise typer.Exit(0)
    cleared = stores.fault_client(store).clear([name] if name else None)
    if as_json:
        show_json({"cleared": cleared})
    else:
        out.print(f"cleared {', '.join(cleared)}" if cleared else f"store {store} had no faults")
    raise typer.Exit(0)
