"""`edgelab setup`, `doctor`, bare `cluster` up/down and `images` save/load: this machine's set-up."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from edgelab.cli.common import (
    JsonOpt,
    MirrorOpt,
    OfflineOpt,
    Reporter,
    Typer,
    err,
    out,
    show_json,
)
from edgelab.kube import cluster
from edgelab.machine import bundle, prepare, record
from edgelab.machine.record import Artifacts
from edgelab.store import doctor as doctor_checks

cluster_app = Typer(help="Create and delete bare edgelab clusters (pod network and metrics included).\n\n"
                    "Example: edgelab cluster up --name edgelab --nodes 2",
                    no_args_is_help=True)


def _print_setup(artifacts: Artifacts, as_json: bool, after: str = "") -> None:
    """The recorded set-up, as `setup` and `images load` end: JSON, or what a person reads."""
    if as_json:
        show_json(artifacts.to_json())
        return
    out.print(f"ready, [bold]{artifacts.mode}[/bold] ({artifacts.reason}"
              + (f"; pulls through {artifacts.registry_mirror}" if artifacts.registry_mirror else "") + ")\n"
              f"  kind {artifacts.kind}\n  kubectl {artifacts.kubectl}\n  node image {artifacts.node_image}\n"
              f"  recorded in {record.record_path()}{after}")


def setup(offline: OfflineOpt = None, mirror: MirrorOpt = None, as_json: JsonOpt = False) -> None:
    """Decide once how this machine gets its images, record it, and make sure they are there.

    Online (a registry answers, or the mirror you give): stock kind node and
    add-on images, pinned kind and kubectl, our two images built from their
    Dockerfiles; nothing on the host is changed, any user of the docker group
    can run it. Offline (no registry answers; Linux and root): everything is
    built from Debian packages and Go modules (about 14 minutes the first
    time) and the host is prepared (docs/offline.md lists each change); other
    users of the docker group then use it without root.

    Cached: a second run rebuilds nothing. Later commands read the record.

    Examples: edgelab setup | edgelab setup --registry-mirror registry.corp:5000 | sudo edgelab setup --offline
    """
    progress = Reporter(as_json)
    try:
        artifacts = prepare.setup(offline=offline, mirror=mirror, report=progress.step, redecide=offline is not None)
    except KeyboardInterrupt:
        err.print("interrupted: finished steps are cached; run the same command again")
        raise typer.Exit(130) from None
    _print_setup(artifacts, as_json)
    raise typer.Exit(0)


@cluster_app.command("up")
def cluster_up(
    name: Annotated[str, typer.Option(metavar="NAME", help="Cluster name (kind's --name).")] = "edgelab",
    nodes: Annotated[int, typer.Option(min=1, max=3, metavar="N", help="Nodes: 1 control plane plus 0-2 workers.")] = 1,
    retain: Annotated[bool, typer.Option(help="Keep a cluster whose set-up failed, for debugging.")] = False,
    offline: OfflineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create (or converge) a kind cluster with kube-router and metrics-server.

    Example: edgelab cluster up --nodes 3
    """
    progress = Reporter(as_json)
    try:
        artifacts = prepare.setup(offline=offline, report=progress.step, redecide=offline is not None)
        spec = cluster.spec_for(name, nodes, artifacts)
        made = cluster.create(spec, say=progress.say, retain=retain)
    except KeyboardInterrupt:
        err.print("interrupted: nothing half-made was kept; run the same command again")
        raise typer.Exit(130) from None
    if as_json:
        show_json({"name": name, "nodes": nodes, "created": made, "kubeconfig": str(spec.kubeconfig)})
    else:
        out.print(f"cluster [bold]{name}[/bold] is ready ({nodes} node(s)). Try:\n"
                  f"  export KUBECONFIG={spec.kubeconfig}\n  {artifacts.kubectl} get pods --all-namespaces")
    raise typer.Exit(0)


@cluster_app.command("down")
def cluster_down(name: Annotated[str, typer.Option(metavar="NAME", help="Cluster name.")] = "edgelab") -> None:
    """Delete a cluster and its kubeconfig.

    Example: edgelab cluster down --name edgelab
    """
    artifacts = record.current()
    cluster.delete(cluster.spec_for(name, 1, artifacts))
    out.print(f"cluster {name} deleted")
    raise typer.Exit(0)


images_app = Typer(help="Carry a working set-up to a machine with no registry and no package mirrors: "
                   "`save` every image and tool a store needs into one file, `load` it there.\n\n"
                   "Example: edgelab images save /media/usb/edgelab-images.tar",
                   no_args_is_help=True)


BundleArg = Annotated[Path, typer.Argument(metavar="FILE", help="The bundle: one tar file.")]


@images_app.command("save")
def images_save(file: BundleArg, as_json: JsonOpt = False) -> None:
    """Write the node image, our images, kind and kubectl of this machine's set-up into FILE.

    Uses what `edgelab setup` recorded and builds nothing (run `edgelab setup`
    first). FILE appears only when complete. It is a few GB: check the space.

    Example: edgelab images save /media/usb/edgelab-images.tar
    """
    progress = Reporter(as_json)
    try:
        summary = bundle.save(file, record.current(), progress.say)
    except KeyboardInterrupt:
        err.print(f"interrupted: {file} was not written; run the same command again")
        raise typer.Exit(130) from None
    if as_json:
        show_json(summary)
    else:
        out.print(f"saved {len(summary['images'])} image name(s), kind and kubectl to [bold]{summary['path']}[/bold] "
                  f"({summary['bytes'] / 1e9:.2f} GB, Kubernetes {summary['kubernetes']}, kind {summary['kind']}).\n"
                  f"  on the other machine: edgelab images load {summary['path']}")
    raise typer.Exit(0)


@images_app.command("load")
def images_load(file: BundleArg, as_json: JsonOpt = False) -> None:
    """Set this machine up from FILE (made by `edgelab images save`): no registry, build or download.

    Checks the whole file first (format, versions, checksums), then loads the
    images into Docker, installs kind and kubectl and records an offline
    set-up. As root, tools and record are shared with the docker group.

    Example: sudo .venv/bin/edgelab images load /media/usb/edgelab-images.tar
    """
    progress = Reporter(as_json)
    try:
        artifacts = bundle.load(file, progress.say)
    except KeyboardInterrupt:
        err.print("interrupted: the set-up was not recorded; run the same command again")
        raise typer.Exit(130) from None
    _print_setup(artifacts, as_json, after="; check with `edgelab doctor`")
    raise typer.Exit(0)


def doctor(as_json: JsonOpt = False) -> None:
    """Check Docker, kind, kubectl, images, memory, disk; say what to fix. Exit 0 when ready.

    Example: edgelab doctor --json
    """
    results = doctor_checks.checks()
    if as_json:
        show_json([asdict(c) for c in results])
    else:
        for c in results:
            mark = "[green]ok[/green]  " if c.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {c.name:13} {c.detail}" + (f"\n       → {c.fix}" if c.fix and not c.ok else ""))
    raise typer.Exit(0 if all(c.ok for c in results) else 1)
