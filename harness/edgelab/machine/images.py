"""The images a store's nodes hold: the edge app under each service's name, its next releases, the fault operator."""

from __future__ import annotations

import yaml

from edgelab.base import pins
from edgelab.base.paths import REPO
from edgelab_operator import catalogue

STORE_IMAGES = REPO / "manifests" / "store" / "images.yaml"


def store_image_names() -> list[str]:
    """The per-service names the store's manifests use; all are the edge app."""
    if not STORE_IMAGES.exists():
        return []
    # the next releases, which release faults roll out, are the same image too
    return sorted(set(yaml.safe_load(STORE_IMAGES.read_text()).values()) | set(catalogue.load().release_images()))


def store_images() -> list[str]:
    """Every image a store's nodes hold: its workloads, their next releases (for release faults), the operator."""
    images = set(yaml.safe_load(STORE_IMAGES.read_text()).values())
    return sorted(images | set(catalogue.load().release_images()) | {pins.load().fault_operator_image})
