"""Offline build: kind, kubectl and every image a cluster needs, from packages only (Linux, root)."""

from edgelab.machine.offline.make import build, own_images
from edgelab.machine.record import Artifacts

__all__ = ["Artifacts", "build", "own_images"]
