"""Measure `edgelab images save` and `images load` (docs/numbers.md, "Users' machines").

Saves this machine's set-up into a bundle in a temporary folder and loads it
back with edgelab's folders (config, cache, system) pointed at empty ones, as
on an air-gapped machine. The layers stay in Docker, so `load` here is faster
than on a really empty machine. Times are printed, never asserted.

    .venv/bin/python bench/bundle_times.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from edgelab.machine import bundle, prepare


def main() -> None:
    artifacts = prepare.setup()
    with tempfile.TemporaryDirectory(prefix="edgelab-bundle-") as tmp:
        path = Path(tmp) / "edgelab-images.tar"
        t0 = time.monotonic()
        summary = bundle.save(path, artifacts, lambda _: None)
        saved = time.monotonic() - t0
        for var, sub in (("EDGELAB_CONFIG_DIR", "config"), ("EDGELAB_CACHE", "cache"), ("EDGELAB_SYSTEM_DIR", "system")):
            os.environ[var] = str(Path(tmp) / sub)
        t0 = time.monotonic()
        bundle.load(path, lambda _: None)
        loaded = time.monotonic() - t0
    print("| measure | value |\n|---|---|")
    print(f"| `images save` ({len(summary['images'])} image names) | {saved:.1f} s |")
    print(f"| bundle size | {summary['bytes'] / 1e9:.2f} GB |")
    print(f"| `images load` (layers already in Docker) | {loaded:.1f} s |")


if __name__ == "__main__":
    main()
