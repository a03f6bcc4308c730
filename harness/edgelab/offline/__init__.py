"""Offline build: kind, kubectl and every image a cluster needs, from packages only."""

from ._build import Artifacts, build, pulls_possible

__all__ = ["Artifacts", "build", "pulls_possible"]
