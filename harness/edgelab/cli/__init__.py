"""The `edgelab` command: parse, call the library, render. Nothing else lives here."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console

from edgelab.agents import bench as agentbench
from edgelab.agents import run as agentrun
from edgelab.base.errors import EdgelabError
from edgelab.drill import drills as drill
from edgelab.drill import page as drillpage
from edgelab.drill import report as drillreport
from edgelab.kube import cluster as clusterlib
from edgelab.kube import faults as faultlib
from edgelab.labs import attempts, grading, session, vocab
from edgelab.labs import catalogue as labslib
from edgelab.labs import progress as progresslib
from edgelab.machine import bundle, prepare, record
from edgelab.machine.record import Artifacts
from edgelab.store import doctor as doctorlib
from edgelab.store import responders
from edgelab.store import stores as storelib


class _Typer(typer.Typer):
    """Every command's errors are rendered once, here: one line, the traceback with --debug."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # type: ignore[override]
        register = super().command(*args, **kwargs)

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def run(*a: Any, **kw: Any) -> Any:
                try:
                    return fn(*a, **kw)
                except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.ClickException,
                        click.exceptions.Abort):
                    raise
                except Exception as exc:
                    raise _fail(exc) from exc

            register(run)
            return fn

        return decorate


app = _Typer(
    help="Byte Edge incident lab: real Kubernetes incidents on kind clusters, graded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cluster_app = _Typer(help="Create and delete bare edgelab clusters (pod network and metrics included).",
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
    err.print(f"[red]error:[/red] {exc}" if isinstance(exc, EdgelabError)
              else f"[red]error:[/red] unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
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
    typer.Option("--offline/--online", help="Build every image from packages (--offline: Linux, root) or use stock "
                 "images (--online). Default: decided once by `setup` (offline only when no registry answers) "
                 "and recorded."),
]
MirrorOpt = Annotated[
    str | None,
    typer.Option("--registry-mirror", metavar="HOST[:PORT]",
                 help="Pull every image (node image, add-ons, our base image) through this registry mirror; "
                      "recorded. A loopback mirror is reached by the nodes at the kind network's gateway. "
                      "'' removes it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON result on stdout, no progress.")]


def _print_setup(artifacts: Artifacts, as_json: bool, after: str = "") -> None:
    """The recorded set-up, as `setup` and `images load` end: JSON, or what a person reads."""
    if as_json:
        print(json.dumps(artifacts.to_json()))
        return
    out.print(f"ready, [bold]{artifacts.mode}[/bold] ({artifacts.reason}"
              + (f"; pulls through {artifacts.registry_mirror}" if artifacts.registry_mirror else "") + ")\n"
              f"  kind {artifacts.kind}\n  kubectl {artifacts.kubectl}\n  node image {artifacts.node_image}\n"
              f"  recorded in {record.record_path()}{after}")


@app.command()
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
    progress = _Progress(as_json)
    try:
        artifacts = prepare.setup(offline=offline, mirror=mirror, report=progress.step, redecide=offline is not None)
    except KeyboardInterrupt:
        err.print("interrupted: finished steps are cached; run the same command again")
        raise typer.Exit(130) from None
    _print_setup(artifacts, as_json)
    raise typer.Exit(0)


def _spec(name: str, nodes: int, artifacts: Artifacts) -> clusterlib.ClusterSpec:
    return clusterlib.ClusterSpec(
        name=name, workers=nodes - 1, node_image=artifacts.node_image, kind=artifacts.kind,
        kubectl=artifacts.kubectl, kubeconfig=clusterlib.kubeconfig_path(name),
        load_images=(artifacts.python_base_image,),
        registry_mirror=None if artifacts.offline else artifacts.registry_mirror,
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
        artifacts = prepare.setup(offline=offline, report=progress.step, redecide=offline is not None)
        spec = _spec(name, nodes, artifacts)
        made = clusterlib.create(spec, say=progress.say, retain=retain)
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
    artifacts = record.current()
    clusterlib.delete(_spec(name, 1, artifacts))
    out.print(f"cluster {name} deleted")
    raise typer.Exit(0)


# --- image bundles (air-gapped machines) ---------------------------------------

images_app = _Typer(help="Carry a working set-up to a machine with no registry and no package mirrors: "
                         "`save` every image and tool a store needs into one file, `load` it there.",
                         no_args_is_help=True)
app.add_typer(images_app, name="images")

BundleArg = Annotated[Path, typer.Argument(metavar="FILE", help="The bundle: one tar file.")]


@images_app.command("save")
def images_save(file: BundleArg, as_json: JsonOpt = False) -> None:
    """Write the node image, our images, kind and kubectl of this machine's set-up into FILE.

    Uses what `edgelab setup` recorded and builds nothing (run `edgelab setup`
    first). FILE appears only when complete. It is a few GB: check the space.

    Example: edgelab images save /media/usb/edgelab-images.tar
    """
    progress = _Progress(as_json)
    try:
        summary = bundle.save(file, record.current(), progress.say)
    except KeyboardInterrupt:
        err.print(f"interrupted: {file} was not written; run the same command again")
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(summary))
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
    progress = _Progress(as_json)
    try:
        artifacts = bundle.load(file, progress.say)
    except KeyboardInterrupt:
        err.print("interrupted: the set-up was not recorded; run the same command again")
        raise typer.Exit(130) from None
    _print_setup(artifacts, as_json, after="; check with `edgelab doctor`")
    raise typer.Exit(0)


# --- stores -------------------------------------------------------------------

StoreOpt = Annotated[str, typer.Option("--store", "-s", help="Store number, e.g. 4523.")]


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check Docker, kind, kubectl, images, memory, disk; say what to fix. Exit 0 when ready."""
    results = doctorlib.checks()
    if as_json:
        print(json.dumps([asdict(c) for c in results]))
    else:
        for c in results:
            mark = "[green]ok[/green]  " if c.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {c.name:13} {c.detail}" + (f"\n       → {c.fix}" if c.fix and not c.ok else ""))
    raise typer.Exit(0 if all(c.ok for c in results) else 1)


@app.command()
def up(
    store: StoreOpt,
    nodes: Annotated[int, typer.Option(min=1, max=3, help="Nodes of the store's edge server: 1, 2 or 3.")] = 1,
    profile: Annotated[str | None, typer.Option(help="Hardware profile (manifests/profiles.yaml).")] = None,
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
    progress = _Progress(as_json)
    try:
        storelib.validate_store_id(store)
        if listen is not None:
            storelib.check_listen(listen)
        artifacts = prepare.setup(offline=offline, report=progress.step, redecide=offline is not None)
        st = storelib.up(store, nodes, profile, artifacts, say=progress.say, retain=retain, listen=listen)
    except KeyboardInterrupt:
        err.print("interrupted: nothing half-made was kept; run the same command again")
        raise typer.Exit(130) from None
    p = storelib.paths(store)
    if as_json:
        print(json.dumps({**asdict(st), "healthy": st.healthy, "learner_kubeconfig": str(p.learner_kubeconfig)}))
    else:
        out.print(f"store [bold]{store}[/bold] is up and healthy ({nodes} node(s)), API server {st.server}.\n"
                  f"  learner shell:   edgelab shell --store {store}\n"
                  f"  or:              export KUBECONFIG={p.learner_kubeconfig}\n"
                  f"  status:          edgelab status --store {store}")
    raise typer.Exit(0)


@app.command()
def down(store: StoreOpt) -> None:
    """Delete store STORE: its cluster, kubeconfigs and audit log."""
    storelib.validate_store_id(store)
    found = storelib.down(store, record.current())
    out.print(f"store {store} deleted" if found else f"store {store} did not exist; nothing to do")
    raise typer.Exit(0)


@app.command()
def status(
    store: Annotated[str | None, typer.Option("--store", "-s", help="Store number; all stores when omitted.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Nodes, deployments READY x/y per namespace, and what is unhealthy. Exit 1 when unhealthy."""
    artifacts = record.current()
    stores = [store] if store else storelib.list_stores(artifacts)
    results = [storelib.status(s) for s in stores]
    if as_json:
        print(json.dumps([{**asdict(r), "healthy": r.healthy} for r in results]))
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


# --- responders (instructor drills) -----------------------------------------------

responder_app = _Typer(help="Instructors: personal identities for a drill's responders, each with the learner's "
                            "rights under their own user name (the audit trail tells them apart); `remove` takes "
                            "the access away.", no_args_is_help=True)
app.add_typer(responder_app, name="responder")

ResponderArg = Annotated[str, typer.Argument(metavar="NAME", help="1-30 lower-case letters, digits or '-', "
                                                                 "starting with a letter, e.g. alice.")]


@responder_app.command("add")
def responder_add(
    name: ResponderArg,
    store: StoreOpt,
    out_file: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write the kubeconfig here "
                                                  "(mode 0600) instead of the store's state folder.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue responder NAME a certificate with the learner's rights and write their kubeconfig.

    An existing NAME gets a new certificate (the old one keeps working until it expires).

    Example: edgelab responder add alice --store 4523 --out alice.kubeconfig
    """
    r = responders.add(store, name, out_file)
    if as_json:
        print(json.dumps({**r.to_json(), "reissued": r.reissued}))
    else:
        verb = "re-issued a new certificate for" if r.reissued else "added"
        out.print(f"{verb} responder [bold]{r.name}[/bold] on store {store}\n"
                  f"  their kubeconfig: {r.kubeconfig}\n"
                  f"  try:              kubectl --kubeconfig {r.kubeconfig} get pods -n pos\n"
                  f"  take it away:     edgelab responder remove {r.name} --store {store}", highlight=False)
    raise typer.Exit(0)


@responder_app.command("list")
def responder_list(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """The responders of store STORE: name, when issued, kubeconfig."""
    found = responders.list_(store)
    if as_json:
        print(json.dumps([r.to_json() for r in found]))
        raise typer.Exit(0)
    if not found:
        out.print(f"store {store} has no responders (edgelab responder add NAME --store {store})")
    for r in found:
        out.print(f"{r.name:24} {r.created_at:%Y-%m-%d %H:%M} UTC  {r.kubeconfig}", highlight=False)
    raise typer.Exit(0)


@responder_app.command("remove")
def responder_remove(name: ResponderArg, store: StoreOpt) -> None:
    """Take responder NAME's access away: their requests are refused from now on (their bindings are deleted)."""
    r = responders.remove(store, name)
    out.print(f"removed responder {r.name} from store {store}: their requests are refused from now on", highlight=False)
    raise typer.Exit(0)


@app.command()
def shell(store: StoreOpt) -> None:
    """Open a shell whose kubectl acts as the learner of store STORE (exit to leave)."""
    artifacts = record.current()
    err.print(f"learner shell for store {store}: kubectl is the learner's; `exit` to leave")
    code = storelib.open_shell(store, artifacts)
    raise typer.Exit(code)


fault_app = _Typer(help="Instructors: inject real failures into a store and revert them exactly.\n\n"
                        "Each fault is a Fault resource that the store's operator turns into an ordinary-looking "
                        "change (a release, a config edit, a scale, a policy, a failed node); clearing it restores "
                        "every touched object.", no_args_is_help=True)
app.add_typer(fault_app, name="fault")


def _faults(store: str):  # type: ignore[no-untyped-def]
    storelib.validate_store_id(store)
    return faultlib.Faults(storelib.paths(store).admin_kubeconfig)


@fault_app.command("list")
def fault_list(as_json: JsonOpt = False) -> None:
    """Fault types: the course cause each plays, what it changes, the symptom, its targets."""
    types = faultlib.catalogue().types
    if as_json:
        print(json.dumps([{"type": t.name, "course": t.course, "summary": t.summary, "symptom": t.symptom,
                           "symptom_seconds": t.symptom_seconds, "targets": list(t.targets)} for t in types.values()]))
        raise typer.Exit(0)
    for t in types.values():
        out.print(f"[bold]{t.name}[/bold]  [dim]{t.course}[/dim]\n  {t.summary}\n  symptom (≤{t.symptom_seconds}s): "
                  f"{t.symptom}\n  targets: {', '.join(t.targets)}")
    raise typer.Exit(0)


@fault_app.command("inject")
def fault_inject(
    fault_type: Annotated[str, typer.Argument(metavar="TYPE", help="A type from `edgelab fault list`.")],
    store: StoreOpt,
    target: Annotated[str | None, typer.Option(help="namespace/deployment (default: the type's first target).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="name=value for the type's parameters.")] = None,
    duration: Annotated[str | None, typer.Option(help="Revert by itself after this long: 90s, 15m, 2h.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Inject a fault into store STORE and wait until it is applied.

    Example: edgelab fault inject crash-on-start --store 4523 --target pos/pos-backend
    """
    f = _faults(store)
    obj = f.inject(fault_type, target, faultlib.parse_params(param or []), duration)
    info = faultlib.FaultInfo.of(obj)
    if as_json:
        print(json.dumps(asdict(info)))
    else:
        out.print(f"fault [bold]{info.name}[/bold] ({info.type}) is {info.phase} on {info.target}\n  expect: {info.message}\n"
                  f"  clear:  edgelab fault clear --store {store} {info.name}")
    raise typer.Exit(0)


@fault_app.command("status")
def fault_status(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """The faults of store STORE: phase (Applying, Active, Rejected, Reverting, Stuck) and each touched target.

    Each target (an object changed, pods restarted, a node stopped) shows its
    own phase: Pending, Injected, Recovered or NotRecovered with the reason.
    """
    infos = [faultlib.FaultInfo.of(o) for o in _faults(store).list_faults()]
    if as_json:
        print(json.dumps([asdict(i) for i in infos]))
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
    name: Annotated[str | None, typer.Argument(help="The fault to clear (see `edgelab fault status`).")] = None,
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
    """
    if bool(name) == all_faults or (force and not name):
        err.print("[red]error:[/red] name one fault, or give --all (--force needs a name)")
        raise typer.Exit(2)
    if force and name:
        released = _faults(store).force_clear(name, storelib.state_dir(store) / "released")
        if as_json:
            print(json.dumps({"released": released.name, "left": released.left,
                              "saved": str(released.saved) if released.saved else None}))
        elif not released.left:
            out.print(f"released {name}; everything it touched was already back")
        else:
            out.print(f"released {name} without a complete revert. Left for a person to do:")
            for line in released.left:
                out.print(f"  - {line}", highlight=False)
            if released.saved:
                out.print(f"  what those objects were before the fault: {released.saved}\n"
                          f"  (kubectl --kubeconfig {storelib.paths(store).admin_kubeconfig} replace -f {released.saved})",
                          highlight=False)
            out.print("  a node agent left on a stopped node starts its kubelet again as soon as the node runs")
        raise typer.Exit(0)
    cleared = _faults(store).clear([name] if name else None)
    if as_json:
        print(json.dumps({"cleared": cleared}))
    else:
        out.print(f"cleared {', '.join(cleared)}" if cleared else f"store {store} had no faults")
    raise typer.Exit(0)


lab_app = _Typer(help="Labs: a ticket, a really broken store, a graded investigation.\n\n"
                      "An instructor (or CI) starts a lab on a store; the learner investigates with the learner's "
                      "kubectl (edgelab shell) and submits findings; the grade explains every point.",
                      no_args_is_help=True)
app.add_typer(lab_app, name="lab")


@lab_app.command("list")
def lab_list(as_json: JsonOpt = False) -> None:
    """The labs: id, level, title, points (titles and tickets never name the cause)."""
    found = labslib.load_all()
    if as_json:
        print(json.dumps([{"id": lab.id, "title": lab.title, "level": lab.level, "points": lab.points,
                           "pass_threshold": lab.pass_threshold, "min_nodes": lab.min_nodes} for lab in found.values()]))
        raise typer.Exit(0)
    for lab in found.values():
        nodes = f", {lab.min_nodes}+ nodes" if lab.min_nodes > 1 else ""
        out.print(f"{lab.id:26} {lab.level:12} {lab.points:3} pts{nodes}  {lab.title}")
    raise typer.Exit(0)


@lab_app.command("show")
def lab_show(
    lab_id: Annotated[str, typer.Argument(metavar="ID")],
    store: Annotated[str, typer.Option("--store", "-s", help="The store the ticket names.")] = "4523",
    as_json: JsonOpt = False,
) -> None:
    """The lab's ticket and what the learner is asked to do (no answers)."""
    lab = labslib.get(lab_id)
    ticket, objectives = vocab.fill(lab.ticket, {"store": store}), attempts.objectives(lab)
    if as_json:
        print(json.dumps({"id": lab.id, "title": lab.title, "level": lab.level, "points": lab.points,
                          "pass_threshold": lab.pass_threshold, "ticket": ticket, "objectives": objectives}))
        raise typer.Exit(0)
    out.print(f"[bold]{lab.title}[/bold] ({lab.id}, {lab.level}, {lab.points} points, pass at {lab.pass_threshold:g}%)\n")
    out.print(f"ticket: {ticket}\n", markup=False)
    for o in objectives:
        out.print(f"  - {o}", markup=False)
    raise typer.Exit(0)


def _print_ticket(store: str, lab, run) -> None:  # type: ignore[no-untyped-def]
    out.print(f"[bold]{lab.title}[/bold] — store {store}\n\n{attempts.ticket(lab, run.attempt)}\n\n"
              f"investigate:  edgelab shell --store {store}\n"
              f"hint:         edgelab lab hint --store {store}"
              + (f"   (each hint costs {lab.hint_cost:g}% of the score)\n" if lab.hint_cost else "\n") +
              f"submit:       edgelab lab submit --store {store} [--findings FILE]")


def _print_ticket_json(store: str, lab, run) -> None:  # type: ignore[no-untyped-def]
    print(json.dumps({"lab": lab.id, "title": lab.title, "store": store, "ticket": attempts.ticket(lab, run.attempt),
                      "started_at": run.attempt.started_at.isoformat(), "hint_cost": lab.hint_cost}))


@lab_app.command("start")
def lab_start(
    lab_id: Annotated[str, typer.Argument(metavar="ID", help="A lab from `edgelab lab list`.")],
    store: StoreOpt,
    target: Annotated[list[str] | None, typer.Option(help="Instructors: namespace/deployment per fault "
                                                      "instead of a random draw.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reset the store to healthy, break it the lab's way, print the ticket. Reuses the running store.

    Example: edgelab lab start pos-down-4523 --store 4523
    """
    progress = _Progress(as_json)
    lab, run = session.start(store, lab_id, say=progress.say, targets=target or None)
    if as_json:
        _print_ticket_json(store, lab, run)
    else:
        _print_ticket(store, lab, run)
    raise typer.Exit(0)


@lab_app.command("hint")
def lab_hint(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """The next hint of the running lab; each one shown takes a few percent off the score (the lab says how many)."""
    text, n, total, cost = session.hint(store)
    if as_json:
        print(json.dumps({"hint": text, "number": n, "of": total, "cost_each": cost, "cost_so_far": n * cost}))
        raise typer.Exit(0)
    out.print(f"hint {n}/{total}: {text}", markup=False, soft_wrap=True)
    if cost:
        err.print(f"(hints shown so far cost {n * cost:g}% of the score)")
    raise typer.Exit(0)


def _prompt_findings() -> str:
    """Ask for each finding on the terminal (prompts on stderr, so `--json` output stays clean).

    A pod state or root cause outside the vocabulary is asked again at once, with the
    choices; evidence takes one quote per line until an empty line; node may stay empty.
    """
    import yaml


    def known(lookup: Callable[[str], str | None], choices: str) -> Callable[[str], str]:
        def check(value: str) -> str:
            if lookup(value) is None:
                raise typer.BadParameter(f"{value!r} is not one of: {choices}")
            return value
        return check

    def ask(text: str, **kw: Any) -> str:
        return str(typer.prompt(text, err=True, **kw)).strip()

    err.print("Your findings (or write them to a file: `edgelab lab submit --findings FILE`).")
    answers: dict[str, Any] = {
        "namespace": ask("namespace where the problem is"),
        "workload": ask("deployment (or one of its pods)"),
        "pod_state": ask(f"pod state ({', '.join(vocab.POD_STATES)})",
                         value_proc=known(vocab.pod_state, ", ".join(vocab.POD_STATES))),
        "root_cause": ask("root cause (`edgelab lab causes` lists them)",
                          value_proc=known(vocab.root_cause, ", ".join(vocab.ROOT_CAUSES))),
    }
    evidence = [ask("evidence: paste the log line or event message that shows it")]
    while len(evidence) < grading.MAX_EVIDENCE and (more := ask("more evidence (empty line: done)", default="", show_default=False)):
        evidence.append(more)
    answers["evidence"] = evidence
    if node := ask("node, if one is involved (empty line: none)", default="", show_default=False):
        answers["node"] = node
    return yaml.safe_dump(answers)


@lab_app.command("template")
def lab_template() -> None:
    """Print a findings file to fill in (for `lab submit --findings FILE`).

    Example: edgelab lab template > findings.yaml
    """
    print(grading.FINDINGS_TEMPLATE, end="")
    raise typer.Exit(0)


@lab_app.command("causes")
def lab_causes(as_json: JsonOpt = False) -> None:
    """The root-cause vocabulary a findings file uses (synonyms are accepted too)."""
    if as_json:
        print(json.dumps({cause: list(synonyms) for cause, synonyms in vocab.ROOT_CAUSES.items()}))
        raise typer.Exit(0)
    for cause, synonyms in vocab.ROOT_CAUSES.items():
        out.print(f"{cause:28} [dim]{', '.join(synonyms[:4])}[/dim]")
    raise typer.Exit(0)


@lab_app.command("submit")
def lab_submit(
    store: StoreOpt,
    findings: Annotated[Path | None, typer.Option(help="YAML/JSON findings: namespace, workload, pod_state, "
                                                  "root_cause, evidence (list), node (when one is involved). "
                                                  "Prompts when omitted.")] = None,
    learner: Annotated[str, typer.Option(help="Whose attempt this is, for `edgelab progress`.")] = "learner",
    junit: Annotated[Path | None, typer.Option(help="Also write a JUnit XML report (CI).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grade the running lab: your kubectl requests since the start, your findings, the store's state.

    Exit 0 only when passed. A malformed findings file is reported and costs no attempt.

    Start a findings file from the template: edgelab lab template > findings.yaml
    """
    if session.running(store) is None:
        raise session.SessionError(f"no lab is running on store {store} (edgelab lab start ID --store {store})")
    answer = grading.parse_findings(findings if findings else _prompt_findings())
    result = session.submit(store, answer, learner=learner, say=_Progress(as_json).say)
    if junit:
        progresslib.write_junit([result], junit)
    if as_json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        out.print(result.explain(), markup=False)
        if result.debrief is not None:
            out.print("\n" + result.debrief.render(), markup=False)
    raise typer.Exit(0 if result.passed else 1)


@lab_app.command("reset")
def lab_reset(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """Start the running lab again on a freshly reset store (a new draw of its targets)."""
    progress = _Progress(as_json)
    lab, run = session.reset(store, say=progress.say)
    if as_json:
        _print_ticket_json(store, lab, run)
    else:
        _print_ticket(store, lab, run)
    raise typer.Exit(0)


@lab_app.command("stop")
def lab_stop(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """End the running lab without grading; the store is healthy again afterwards."""
    was = session.stop(store, say=_Progress(as_json).say)
    if as_json:
        print(json.dumps({"stopped": was, "store": store, "healthy": True}))
        raise typer.Exit(0)
    out.print(f"stopped lab {was}; store {store} is healthy" if was else f"no lab was running; store {store} is healthy")
    raise typer.Exit(0)


@lab_app.command("run")
def lab_run(
    lab_id: Annotated[str, typer.Argument(metavar="ID", help="A lab from `edgelab lab list`.")],
    store: StoreOpt,
    agent: Annotated[str, typer.Option(help="The command that investigates, run with `sh -c` in the agent "
                                       "container, e.g. \"python3 agents/baseline.py\".")],
    time_limit: Annotated[str | None, typer.Option(help="Stop the agent after this long (90s, 10m, 1h); "
                                                   "what it did until then is graded.")] = None,
    mount: Annotated[Path | None, typer.Option(help="Folder seen read-only as /agent, the working directory "
                                               "(default: this one; its labs/ and drills/ are hidden).")] = None,
    image: Annotated[str | None, typer.Option(help="Run in this image instead of edgelab's agent image "
                                              "(it must have sh and whatever COMMAND needs).")] = None,
    env: Annotated[list[str] | None, typer.Option(help="Pass this variable of your environment to the agent "
                                                  "(e.g. an API key); repeatable.")] = None,
    learner: Annotated[str, typer.Option(help="Whose attempt this is, for `edgelab progress`.")] = "agent",
    target: Annotated[list[str] | None, typer.Option(help="Instructors: namespace/deployment per fault "
                                                      "instead of a random draw.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write a JUnit XML report (CI).")] = None,
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
                       learner=learner, say=_Progress(as_json).say, targets=target or None)
    if junit:
        progresslib.write_junit([progresslib.Case(
            run.result, run.lab, seconds=run.agent_seconds, note=agentbench.timed_out_note(run))], junit)
    if as_json:
        print(json.dumps(run.to_dict()))
    else:
        out.print(run.summary(), markup=False, soft_wrap=True)
        out.print(run.result.explain(), markup=False)
        if run.result.debrief is not None:
            out.print("\n" + run.result.debrief.render(), markup=False)
    raise typer.Exit(0 if run.passed else 1)


@app.command("progress")
def progress_cmd(
    learner: Annotated[str | None, typer.Option(help="Only this learner.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Attempts, best score, pass rate and passed, per learner and lab.

    The database is $EDGELAB_PROGRESS_DB, else ~/.local/state/edgelab/progress.sqlite.
    """
    with progresslib.Progress() as p:
        rows = progresslib.summary_dicts(p.summary(learner))
    if as_json:
        print(json.dumps(rows))
    elif not rows:
        out.print("no attempts yet")
    else:
        from rich.table import Table

        table = Table("learner", "lab", "attempts", "best score", "pass rate", "passed", box=None)
        for r in rows:
            table.add_row(r["learner"], r["lab"], str(r["attempts"]), f"{r['best_score']:g}%",
                          f"{r['pass_rate']:.0f}%", "yes" if r["passed"] else "no")
        out.print(table)
    raise typer.Exit(0)


# --- benchmarks of agents -----------------------------------------------------------------------------------

bench_app = _Typer(no_args_is_help=True, invoke_without_command=True, subcommand_metavar="| compare A.jsonl B.jsonl")
app.add_typer(bench_app, name="bench")


def _pct(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:.{digits}f}%"


def _num(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _p(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _render_bench(path: Path, labs: list[Any], overall: Any, agent: str, store: str) -> None:
    """The bench's table: agentbench.LabSummary rows, then agentbench.Overall."""
    from rich.table import Table

    k = overall.k
    table = Table("lab", "runs", "passed", "pass@1", f"pass@{k}", "mean score", "agent s", "requests", "timeouts",
                  title=f"agent {agent!r} on store {store}", box=None, title_justify="left")
    for s in labs:
        if s.skipped:
            table.add_row(s.lab, "0", "-", "-", "-", "-", "-", "-", "-", f"skipped: {s.skipped}")
            continue
        table.add_row(s.lab, str(s.runs), str(s.passed), _p(s.pass_at_1), _p(s.pass_at_k), _pct(s.mean_score, 1),
                      _num(s.mean_agent_seconds), _num(s.mean_requests, digits=1), str(s.timeouts))
    table.add_row(f"overall ({overall.labs} lab{'' if overall.labs == 1 else 's'})", str(overall.runs),
                  str(overall.passed), _p(overall.pass_at_1), _p(overall.pass_at_k), _pct(overall.mean_score, 1),
                  _num(overall.mean_agent_seconds), _num(overall.mean_requests, digits=1), str(overall.timeouts),
                  f"{overall.total_seconds / 60:.1f} min in all", style="bold")
    out.print(table)
    out.print(f"results: {path}", markup=False, highlight=False)


@bench_app.callback()
def bench(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(metavar="COMMAND", help="Required: the command that runs your agent "
                                              "(run with `sh -c` in the agent container; see docs/agents.md).")] = None,
    store: Annotated[str | None, typer.Option("--store", "-s", help="Required: the store to run on (it must be "
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

    Example: edgelab bench --agent 'python3 agents/baseline.py' --store 4523 --repeat 3 --junit bench.xml

    Compare two agents' results files: edgelab bench compare A.jsonl B.jsonl (`edgelab bench compare --help`)
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        if agent is None or store is None:
            raise agentbench.BenchError("give the agent and the store: edgelab bench --agent COMMAND --store S "
                                        "(edgelab bench --help)")
        progress = _Progress(quiet=False)
        b = agentbench.bench(store, agent, labs=None if labs is None else labs.split(","), repeat=repeat,
                             time_limit=agentbench.parse_time_limit(time_limit), mount=mount, out=out_file,
                             junit=junit, say=progress.say)
        lab_rows, overall = b.summary()
    except (typer.Exit, click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
        raise
    except Exception as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps(agentbench.summary_json(b.path, lab_rows, overall, agent=agent, store=store,
                                                 interrupted=b.interrupted,
                                                 junit=None if junit is None else str(junit))))
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
    from rich.table import Table


    c = agentbench.compare(agentbench.load(a), agentbench.load(b))
    if as_json:
        print(json.dumps(c.to_dict()))
        raise typer.Exit(0)
    out.print(f"A: {a} (agent {', '.join(map(repr, c.a.agents))})\nB: {b} (agent {', '.join(map(repr, c.b.agents))})",
              markup=False, highlight=False)
    table = Table("lab", "pass@1 A", "pass@1 B", "score A", "score B", "Δ score", "agent s A", "agent s B",
                  "requests A", "requests B", "", box=None)

    def delta(x: float | None) -> str:
        return "-" if x is None else f"{x:+.1f}"

    def side(s: agentbench.LabSummary | None, name: str) -> str:
        return f"not in {name}" if s is None else f"skipped in {name}: {s.skipped}" if s.skipped else ""

    def of(s: agentbench.LabSummary | None, attr: str) -> float | None:
        return None if s is None else getattr(s, attr)

    for row in c.labs:
        x, y = row.a, row.b
        note = "; ".join(filter(None, (side(x, "A"), side(y, "B"))))
        table.add_row(row.lab, _p(of(x, "pass_at_1")), _p(of(y, "pass_at_1")), _pct(of(x, "mean_score"), 1),
                      _pct(of(y, "mean_score"), 1), delta(row.delta_score), _num(of(x, "mean_agent_seconds")),
                      _num(of(y, "mean_agent_seconds")), _num(of(x, "mean_requests"), digits=1),
                      _num(of(y, "mean_requests"), digits=1), note)
    oa, ob = c.overall_a, c.overall_b
    n = len(c.common)
    table.add_row(f"overall ({n} lab{'' if n == 1 else 's'} both ran)", _p(oa.pass_at_1), _p(ob.pass_at_1),
                  _pct(oa.mean_score, 1), _pct(ob.mean_score, 1), delta(c.delta_score), _num(oa.mean_agent_seconds),
                  _num(ob.mean_agent_seconds), _num(oa.mean_requests, digits=1), _num(ob.mean_requests, digits=1), "",
                  style="bold")
    out.print(table)
    raise typer.Exit(0)


# --- instructor drills --------------------------------------------------------------------------------------

drill_app = _Typer(help="Instructor fault drills: a plan of incidents over several stores, a clock, a scoreboard.",
                   no_args_is_help=True)
app.add_typer(drill_app, name="drill")
PlanArg = Annotated[str, typer.Argument(metavar="PLAN", help="A plan file, or the name of one in drills/ "
                                                             "(e.g. lunch-rush).")]


@drill_app.command("check")
def drill_check(plan: PlanArg, as_json: JsonOpt = False) -> None:
    """Check a drill plan against its schema (stores, responders, timeline, labs and faults that exist)."""
    p = drill.load_plan(drill.find_plan(plan))
    if as_json:
        print(p.model_dump_json())
    else:
        out.print(f"plan {p.name} is valid: {len(p.stores)} store(s), {len(p.responders)} responder(s), "
                  f"{len(p.timeline)} incident(s)")
    raise typer.Exit(0)


def _render_status(st: dict[str, Any]) -> None:
    from rich.table import Table

    clock = "running" if st["clock_running"] else "not running"
    out.print(f"[bold]{st['title']}[/bold] ({st['name']}): {st['state']}, {drillreport.clock(st['elapsed_s'])}"
              f" since {st['started_at'][:19]}Z; clock {clock}"
              + (" (started again)" if st["resumed"] else ""))
    incidents = Table("incident", "store", "title", "planned", "began", "recovered", "ended", box=None)
    for i in st["incidents"]:
        began = drill.since_start(st, i["injected_at"]) if not i["error"] else f"failed: {i['error']}"
        incidents.add_row(i["id"], i["store"], i["title"], drillreport.clock(i["planned_at_s"]), began,
                          drill.since_start(st, i["recovered_at"]),
                          drill.since_start(st, i["ended_at"]))
    out.print(incidents)
    people = Table("responder", "store", "submissions", "kubeconfig", box=None)
    for r in st["responders"]:
        subs = [s for s in st["submissions"] if s["responder"] == r["name"]]
        people.add_row(r["name"], r["store"], ", ".join(f"{s['incident']} {s['result']['score']:g}%" for s in subs)
                       or "-", r["kubeconfig"])
    out.print(people)


@drill_app.command("start")
def drill_start(plan: PlanArg, as_json: JsonOpt = False) -> None:
    """Bring the plan's stores up, issue every responder's kubeconfig, reset the stores, start the drill's clock.

    The clock runs on its own: close the terminal, `edgelab drill status` picks the drill up again.
    Example: edgelab drill start lunch-rush
    """
    progress = _Progress(as_json)
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
        print(json.dumps(st))
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
    """
    while True:
        st = drill.status()
        if as_json:
            print(json.dumps(st))
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
    findings: Annotated[Path, typer.Option(help="YAML/JSON findings (`edgelab lab template` prints one).")],
    incident: Annotated[str | None, typer.Option(help="Which incident (default: the latest begun on their "
                                                      "store).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grade one responder's findings for the incident on their store (their own requests, by their name)."""
    answer = grading.parse_findings(findings)
    inc, result = drill.submit(name, answer, incident=incident)
    if as_json:
        print(json.dumps({"responder": name, "incident": inc["id"], **result.to_dict()}, default=str))
    else:
        out.print(f"{name}, incident {inc['id']} on store {inc['store']}:\n" + result.explain(), markup=False)
    raise typer.Exit(0 if result.passed else 1)


@drill_app.command("hint")
def drill_hint(name: Annotated[str, typer.Argument(metavar="NAME")], as_json: JsonOpt = False) -> None:
    """The next hint for a responder's incident; it costs them the lab's hint cost."""
    inc, text, n, total = drill.hint(name)
    if as_json:
        print(json.dumps({"responder": name, "incident": inc["id"], "hint": text, "number": n, "of": total}))
    else:
        out.print(f"{name}, hint {n}/{total}: {text}", markup=False, soft_wrap=True)
    raise typer.Exit(0)


@drill_app.command("stop")
def drill_stop(as_json: JsonOpt = False) -> None:
    """End the drill: its clock stops, its audit trail is kept, every fault reverted, every store healthy."""
    st = drill.finish(say=_Progress(as_json).say)
    if as_json:
        print(json.dumps({"name": st["name"], "state": st["state"], "ended_at": st["ended_at"],
                          "stores": [s["id"] for s in st["stores"]], "healthy": True}))
    else:
        out.print(f"drill {st['name']} {st['state']}; stores {', '.join(s['id'] for s in st['stores'])} are healthy. "
                  "Report: edgelab drill report")
    raise typer.Exit(0)


@drill_app.command("report")
def drill_report(
    html: Annotated[Path | None, typer.Option(help="Write the scoreboard page as one static HTML file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The scoreboard: per responder and incident, times, the shape of the investigation, the ranking and why."""
    rep = drill.report()
    if html:
        html.write_text(drillpage.render(rep))
    if as_json:
        print(json.dumps(rep))
        raise typer.Exit(0)
    from rich.table import Table

    def mmss(s: float | None) -> str:
        return "-" if s is None else drillreport.clock(s).lstrip("+")

    table = Table("#", "responder", "store", "score", "passed", "first relevant", "correct findings", "recovery",
                  "requests", "evidence", "repeats", "course order", box=None)
    for r in rep["responders"]:
        for i in r["incidents"]:
            order = {True: "yes", False: "no", None: "-"}[i["course_order"]]
            table.add_row(str(r["rank"]), r["name"], r["store"], f"{r['score']:g}", str(r["passed"]),
                          mmss(i["first_relevant_s"]), mmss(i["correct_findings_s"]), mmss(i["recovery_s"]),
                          str(i["requests"]), str(i["evidence_requests"]), str(i["repeats"]), order)
    out.print(f"[bold]{rep['drill']['title']}[/bold] ({rep['drill']['state']})")
    out.print(table)
    for r in rep["responders"]:
        out.print(f"{r['rank']}. {r['name']}: {r['why']}", markup=False)
    if html:
        err.print(f"wrote {html}")
    raise typer.Exit(0)


@drill_app.command("serve")
def drill_serve(
    host: Annotated[str, typer.Option(help="Address to serve on (the class network's, for the whole class).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
) -> None:
    """Serve the scoreboard page; it refreshes itself every few seconds during the drill. Ctrl-C ends it."""
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
