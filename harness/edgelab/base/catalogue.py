"""The fault catalogue (operator/edgelab_operator/catalogue.yaml), read once per process."""

from __future__ import annotations

import functools

from edgelab_operator import catalogue


@functools.cache
def fault_catalogue() -> catalogue.Catalogue:
    return catalogue.load()
