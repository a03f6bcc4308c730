"""The offline path: prepare the host and run the pipeline; hand back where things are."""

from __future__ import annotations

from pathlib import Path

from edgelab.base.paths import cache_dir
from edgelab.base.pins import Pins, load
from edgelab.base.types import Report
from edgelab.machine import host
from edgelab.machine.offline.pipeline import Pipeline
from edgelab.machine.offline.steps import all_steps
from edgelab.machine.record import Artifacts


def pipeline(pins: Pins | None = None) -> Pipeline:
    return Pipeline(all_steps(pins or load()), cache_dir())


def build(report: Report = lambda *_: None, pins: Pins | None = None) -> Artifacts:
    """The offline path, Linux and root only: prepare the host, build every artifact from packages.

    Host changes (docs/offline.md lists them): Debian's docker.io and build
    tools installed where missing, the runc wrapper registered where processes
    lack CAP_SYS_RESOURCE, dockerd started detached, inotify limits raised,
    cluster ranges kept from leaving through the uplink. Each checks before it
    acts. The pipeline caches every artifact by its pins.
    """
    pins = pins or load()
    pipe = pipeline(pins)

    def say(message: str) -> None:
        report("host", message, 0.0)

    host.ensure_tools(say)
    wrapper = None
    if host.lacks_cap_sys_resource():
        wrapper = Path(pipe.run(["runc-wrapper"], report)["runc-wrapper"]) / "edgelab-runc"
    host.ensure_docker(wrapper, say)
    host.raise_inotify_limits()
    host.keep_cluster_ranges_local()
    out = pipe.run(["tools", "node-image", "python-base", "edge-app", "fault-operator"], report)
    tools = Path(out["tools"])
    return Artifacts(True, tools / "kind", tools / "kubectl", pins.offline_node_image, pins.python_base_image, wrapper)


def own_images(pins: Pins, report: Report = lambda *_: None) -> None:
    """The edge app and the operator on the offline python base: docker builds only, no root needed."""
    pipeline(pins).run(["edge-app", "fault-operator"], report)
