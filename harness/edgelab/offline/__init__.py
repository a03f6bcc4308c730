"""Offline build: kind, kubectl and every image a cluster needs, from packages only (Linux, root)."""

from ..machine import Artifacts
from ._build import build, own_images

__all__ = ["Artifacts", "build", "own_images"]
