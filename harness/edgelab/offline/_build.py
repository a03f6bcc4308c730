"""Choose stock or offline, run the pipeline, hand back where things are."""

from __future__ import annotations

import os
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import host
from ..pins import Pins, load
from .pipeline import Pipeline
from .steps import all_steps

Report = Callable[[str, str, float], None]


def cache_dir() -> Path:
    base = os.environ.get("EDGELAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgelab"
    )
    return Path(base)


def pulls_possible(timeout: float = 5.0) -> bool:
    """Can this machine pull stock images? `EDGELAB_OFFLINE=1|0` decides if set.

    A real registry answers `GET /v2/` with a `Docker-Distribution-Api-Version`
    header; a captive or transparent proxy that answers everything does not.
    """
    forced = os.environ.get("EDGELAB_OFFLINE")
    if forced in ("0", "1"):
        return forced == "0"
    try:
        urllib.request.urlopen("https://registry-1.docker.io/v2/", timeout=timeout, context=ssl.create_default_context())
    except urllib.error.HTTPError as err:
        return err.headers.get("Docker-Distribution-Api-Version", "").startswith("registry/2")
    except (OSError, ValueError):
        return False
    return False


@dataclass(frozen=True)
class Artifacts:
    offline: bool
    kind: Path
    kubectl: Path
    node_image: str
    python_base_image: str
    runc_wrapper: Path | None


def pipeline(pins: Pins | None = None) -> Pipeline:
    return Pipeline(all_steps(pins or load()), cache_dir())


def build(offline: bool | None = None, report: Report = lambda *_: None, pins: Pins | None = None) -> Artifacts:
    """Make sure the host runs Docker and every artifact a cluster needs exists.

    Offline (no registry reachable, or asked): everything is built from
    packages by the cached pipeline. Online: stock kind node image and stock
    add-on images; kind and kubectl from PATH when they are there.
    """
    pins = pins or load()
    pipe = pipeline(pins)

    def say(message: str) -> None:
        report("host", message, 0.0)

    if offline is not False:
        host.ensure_tools(say)
    wrapper = None
    if host.lacks_cap_sys_resource():
        wrapper = Path(pipe.run(["runc-wrapper"], report)["runc-wrapper"]) / "edgelab-runc"
    host.ensure_docker(wrapper, say)
    host.raise_inotify_limits()
    host.keep_cluster_ranges_local()
    if offline is None:
        offline = not pulls_possible()
    if offline:
        out = pipe.run(["tools", "node-image", "python-base", "edge-app", "fault-operator"], report)
        tools = Path(out["tools"])
        return Artifacts(True, tools / "kind", tools / "kubectl", pins.offline_node_image, pins.python_base_image, wrapper)
    pipe.run(["python-base", "edge-app", "fault-operator"], report)  # our own images are always built here
    kind, kubectl = shutil.which("kind"), shutil.which("kubectl")
    if kind is None or kubectl is None:
        tools = Path(pipe.run(["tools"], report)["tools"])
        kind, kubectl = str(tools / "kind"), str(tools / "kubectl")
    return Artifacts(False, Path(kind), Path(kubectl), pins.kind_stock_node_image, pins.python_base_image, wrapper)
