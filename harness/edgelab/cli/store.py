"""A store's own commands: `up`, `down`, `status`, `shell`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from edgelab.cli.common import (
    JsonOpt,
    OfflineOpt,
    Reporter,
    StoreOpt,
    err,
    out,
    show_json,
)
from edgelab.machine import prepare, record
from edgelab.store import stores


def up(
    store: StoreOpt,
    nodes: Annotated[int, typer.Option(min=1, max=3, metavar="N", help="Nodes of the store's edge server: 1, 2 or 3.")] = 1,
    profile: Annotated[str | None, typer.Option(metavar="PROFILE", help="Hardware profile (manifests/profiles.yaml).")] = None,
    retain: Annotated[bool, typer.Option(help="Keep a store whose first set-up failed, for debugging.")] = False,
    offline: OfflineOpt = None,
    listen: Annotated[str | None, typer.Option(
        metavar="ADDR", help="An IP address of this machine on the class network where the store's API server "
                             "answers (kubeconfigs then point at https://ADDR:PORT). Default: 127.0.0.1, this "
                             "machine only; an existing store keeps its own.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring up store STORE: cluster, workloads, audit trail, learner access. Re-running converges.

    Example: edgelab up --store 4523 --nodes 3 | edgelab up --store 4523 --listen 192.168.1.20
    """
    progress = Reporter(as_json)
    try:
        stores.validate_store_id(store)
        if listen is not None:
            stores.check_listen(listen)
        artifacts = prepare.setup(offline=offline, report=progress.step, redecide=offline is not None)
        st = stores.up(store, nodes, profile, artifacts, say=progress.say, retain=retain, listen=listen)
    except KeyboardInterrupt:
        err.print("interrupted: nothing half-made was kept; run the same command again")
        raise typer.Exit(130) from None
    p = stores.paths(store)
    if as_json:
        show_json({**asdict(st), "healthy": st.healthy, "learner_kubeconfig": str(p.learner_kubeconfig)})
    else:
        out.print(f"store [bold]{store}[/bold] is up and healthy ({nodes} node(s)), API server {st.server}.\n"
                  f"  learner shell:   edgelab shell --store {store}\n"
                  f"  or:              export KUBECONFIG={p.learner_kubeconfig}\n"
                  f"  status:          edgelab status --store {store}")
    raise typer.Exit(0)


def down(store: StoreOpt) -> None:
    """Delete store STORE: its cluster, kubeconfigs and audit log.

    Example: edgelab down --store 4523
    """
    stores.validate_store_id(store)
    found = stores.down(store, record.current())
    out.print(f"store {store} deleted" if found else f"store {store} did not exist; nothing to do")
    raise typer.Exit(0)


def status(
    store: Annotated[str | None, typer.Option("--store", "-s", metavar="ID", help="Store number; all stores when omitted.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Nodes, deployments READY x/y per namespace, and what is unhealthy. Exit 1 when unhealthy.

    Example: edgelab status --store 4523
    """
    artifacts = record.current()
    ids = [store] if store else stores.list_stores(artifacts)
    results = [stores.status(s) for s in ids]
    if as_json:
        show_json([{**asdict(r), "healthy": r.healthy} for r in results])
    else:
        if not results:
            out.print("no stores are up (edgelab up --store 4523)")
        for r in results:
            head = "[green]healthy[/green]" if r.healthy else "[red]unhealthy[/red]"
            out.print(f"store [bold]{r.store}[/bold]: {head}" + (f", API server {r.server}" if r.server else ""))
            for n in r.nodes:
                out.print(f"  node {n['name']:28} {'Ready' if n['ready'] else 'NotReady'}")
            for ns, rows in r.deployments.items():
                for d in rows:
                    out.print(f"  {ns + '/' + d['name']:34} READY {d['ready']}/{d['replicas']}")
            for rsp in r.responders:
                out.print(f"  responder {rsp['name']:20} {rsp['kubeconfig']}", highlight=False)
            for u in r.unhealthy:
                out.print(f"  [red]![/red] {u}")
    raise typer.Exit(0 if all(r.healthy for r in results) else 1)


def shell(store: StoreOpt) -> None:
    """Open a shell whose kubectl acts as the learner of store STORE (exit to leave).

    Example: edgelab shell --store 4523
    """
    artifacts = record.current()
    err.print(f"learner shell for store {store}: kubectl is the learner's; `exit` to leave")
    code = stores.open_shell(store, artifacts)
    raise typer.Exit(code)
