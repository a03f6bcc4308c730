"""The `edgelab` command: parse, call the library, render. Nothing else lives here."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import cluster as clusterlib
from .errors import EdgelabError
from .offline import Artifacts, build

app = typer.Typer(
    help="Byte Edge incident lab: real Kubernetes incidents on kind clusters, graded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cluster_app = typer.Typer(help="Create and delete bare edgelab clusters (pod network and metrics included).",
                          no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")

out = Console()
err = Console(stderr=True)
STATE = {"debug": False}


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    STATE["debug"] = debug


def _fail(exc: Exception) -> typer.Exit:
    if STATE["debug"]:
        raise exc
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


class _Progress:
    """One line per finished step on stderr; a spinner while one runs."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.monotonic()

    def step(self, name: str, state: str, seconds: float) -> None:
        if self.quiet or state == "start":
            return
        if name == "host":
            err.print(f"[dim]{time.monotonic() - self.t0:6.0f}s[/dim] host: {state}")
        elif state == "cached":
            err.print(f"[dim]{time.monotonic() - self.t0:6.0f}s {name}: cached[/dim]")
        else:
            colour = "green" if state == "done" else "red"
            err.print(f"[dim]{time.monotonic() - self.t0:6.0f}s[/dim] {name}: [{colour}]{state}[/{colour}] in {seconds:.0f}s")

    def say(self, message: str) -> None:
        if not self.quiet:
            err.print(f"[dim]{time.monotonic() - self.t0:6.0f}s[/dim] {message}")


OfflineOpt = Annotated[
    bool | None,
    typer.Option("--offline/--online", help="Build every image from packages (--offline) or use stock images "
                 "(--online). Default: offline only when no registry answers."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON result on stdout, no progress.")]


def _artifacts_json(a: Artifacts) -> dict[str, object]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(a).items()}


@app.command()
def setup(offline: OfflineOpt = None, as_json: JsonOpt = False) -> None:
    """Prepare this machine: Docker engine, kind, kubectl and the images clusters need.

    Cached: a second run rebuilds nothing. On a machine with no registry it
    builds everything from Debian packages and Go modules (about 15 minutes
    the first time).
    """
    progress = _Progress(as_json)
    try:
        artifacts = build(offline=offline, report=progress.step)
    except EdgelabError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps(_artifacts_json(artifacts)))
    else:
        out.print(f"ready: kind {artifacts.kind}, kubectl {artifacts.kubectl}, node image {artifacts.node_image}"
                  + (" (built offline)" if artifacts.offline else ""))
    raise typer.Exit(0)


def _spec(name: str, nodes: int, artifacts: Artifacts) -> clusterlib.ClusterSpec:
    return clusterlib.ClusterSpec(
        name=name, workers=nodes - 1, node_image=artifacts.node_image, kind=artifacts.kind,
        kubectl=artifacts.kubectl, kubeconfig=clusterlib.kubeconfig_path(name),
        load_images=(artifacts.python_base_image,),
    )


@cluster_app.command("up")
def cluster_up(
    name: Annotated[str, typer.Option(help="Cluster name (kind's --name).")] = "edgelab",
    nodes: Annotated[int, typer.Option(min=1, max=3, help="Nodes: 1 control plane plus 0-2 workers.")] = 1,
    retain: Annotated[bool, typer.Option(help="Keep a cluster whose set-up failed, for debugging.")] = False,
    offline: OfflineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create (or converge) a kind cluster with kube-router and metrics-server.

    Example: edgelab cluster up --nodes 3
    """
    progress = _Progress(as_json)
    try:
        artifacts = build(offline=offline, report=progress.step)
        spec = _spec(name, nodes, artifacts)
        made = clusterlib.create(spec, say=progress.say, retain=retain)
    except EdgelabError as exc:
        raise _fail(exc) from exc
    except KeyboardInterrupt:
        err.print("interrupted: nothing half-made was kept; run the same command again")
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps({"name": name, "nodes": nodes, "created": made, "kubeconfig": str(spec.kubeconfig)}))
    else:
        out.print(f"cluster [bold]{name}[/bold] is ready ({nodes} node(s)). Try:\n"
                  f"  export KUBECONFIG={spec.kubeconfig}\n  {artifacts.kubectl} get pods --all-namespaces")
    raise typer.Exit(0)


@cluster_app.command("down")
def cluster_down(name: Annotated[str, typer.Option(help="Cluster name.")] = "edgelab") -> None:
    """Delete a cluster and its kubeconfig."""
    try:
        artifacts = build(offline=None)
        clusterlib.delete(_spec(name, 1, artifacts))
    except EdgelabError as exc:
        raise _fail(exc) from exc
    out.print(f"cluster {name} deleted")
    raise typer.Exit(0)
