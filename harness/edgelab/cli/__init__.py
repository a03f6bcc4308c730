"""The `edgelab` command: one module per noun (machine, store, responder, fault, lab, bench, drill), each
command parsing its options, calling one library function and rendering the result (common.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from edgelab.cli import bench, drill, fault, lab, machine, responder, store
from edgelab.cli.common import STATE, Typer

app = Typer(
    help="Byte Edge incident lab: real Kubernetes incidents on kind clusters, graded.\n\n"
         "Example: edgelab up --store 4523 && edgelab lab start pos-down-4523 --store 4523",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    STATE["debug"] = debug


# The order `edgelab --help` lists them in: commands first, then groups, each as registered here.
app.command()(machine.setup)
app.command()(machine.doctor)
app.command()(store.up)
app.command()(store.down)
app.command()(store.status)
app.command()(store.shell)
app.command("progress")(lab.progress_cmd)
app.add_typer(machine.cluster_app, name="cluster")
app.add_typer(machine.images_app, name="images")
app.add_typer(responder.responder_app, name="responder")
app.add_typer(fault.fault_app, name="fault")
app.add_typer(lab.lab_app, name="lab")
app.add_typer(bench.bench_app, name="bench")
app.add_typer(drill.drill_app, name="drill")
