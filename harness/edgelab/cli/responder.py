"""`edgelab responder`: instructors' personal identities for a drill's responders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgelab.cli.common import (
    JsonOpt,
    StoreOpt,
    Typer,
    out,
    show_json,
)
from edgelab.store import responders

responder_app = Typer(help="Instructors: personal identities for a drill's responders, each with the learner's "
                      "rights under their own user name (the audit trail tells them apart); `remove` takes "
                      "the access away.\n\nExample: edgelab responder add alice --store 4523",
                      no_args_is_help=True)


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
        show_json({**r.to_json(), "reissued": r.reissued})
    else:
        verb = "re-issued a new certificate for" if r.reissued else "added"
        out.print(f"{verb} responder [bold]{r.name}[/bold] on store {store}\n"
                  f"  their kubeconfig: {r.kubeconfig}\n"
                  f"  try:              kubectl --kubeconfig {r.kubeconfig} get pods -n pos\n"
                  f"  take it away:     edgelab responder remove {r.name} --store {store}", highlight=False)
    raise typer.Exit(0)


@responder_app.command("list")
def responder_list(store: StoreOpt, as_json: JsonOpt = False) -> None:
    """The responders of store STORE: name, when issued, kubeconfig.

    Example: edgelab responder list --store 4523
    """
    found = responders.list_(store)
    if as_json:
        show_json([r.to_json() for r in found])
        raise typer.Exit(0)
    if not found:
        out.print(f"store {store} has no responders (edgelab responder add NAME --store {store})")
    for r in found:
        out.print(f"{r.name:24} {r.created_at:%Y-%m-%d %H:%M} UTC  {r.kubeconfig}", highlight=False)
    raise typer.Exit(0)


@responder_app.command("remove")
def responder_remove(name: ResponderArg, store: StoreOpt) -> None:
    """Take responder NAME's access away: their requests are refused from now on (their bindings are deleted).

    Example: edgelab responder remove alice --store 4523
    """
    r = responders.remove(store, name)
    out.print(f"removed responder {r.name} from store {store}: their requests are refused from now on", highlight=False)
    raise typer.Exit(0)
