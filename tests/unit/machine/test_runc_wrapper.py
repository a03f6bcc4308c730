"""hack/runc-wrapper, built for real and run against a fake "real runc".

The fake records its argv and a copy of the file the wrapper patched, so the
tests see exactly what runc would have been given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from unitpaths import REPO

WRAPPER_SRC = REPO / "hack" / "runc-wrapper"
CANDIDATES = ("/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc.real")
BIG = 9223372036854771712  # linux.resources.memory.limit as runc sees "no limit"

FAKE_RUNC = """#!/bin/sh
: > "$FAKE_ARGV"
for a in "$@"; do printf '%s\\n' "$a" >> "$FAKE_ARGV"; done
if [ -n "$FAKE_SNAPSHOT_OF" ]; then cat "$FAKE_SNAPSHOT_OF" > "$FAKE_SNAPSHOT"; fi
exit 0
"""

ALL_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
CAPS = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
KEPT = ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"]


@pytest.fixture(scope="session")
def wrapper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.fail("Go is needed to build hack/runc-wrapper (put `go` on PATH)")
    out = tmp_path_factory.mktemp("wrapper") / "edgelab-runc"
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
    proc = subprocess.run(["go", "build", "-o", str(out), "."], cwd=WRAPPER_SRC, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


class Fake:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.runc = root / "runc"
        self.runc.write_text(FAKE_RUNC)
        self.runc.chmod(0o755)
        self.argv_file = root / "argv"
        self.snapshot = root / "snapshot.json"

    def env(self, snapshot_of: Path | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "EDGELAB_REAL_RUNC": str(self.runc),
            "FAKE_ARGV": str(self.argv_file),
            "FAKE_SNAPSHOT": str(self.snapshot),
            "FAKE_SNAPSHOT_OF": str(snapshot_of or ""),
        }

    @property
    def argv(self) -> list[str]:
        return self.argv_file.read_text().splitlines()


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)


def run(wrapper: Path, args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(wrapper), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=30, check=False)


def process_doc(oom: int | None = -998) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["/sbin/init"],
        "capabilities": {s: list(CAPS) for s in ALL_SETS},
    }
    if oom is not None:
        doc["oomScoreAdj"] = oom
    return doc


def bundle(root: Path, oom: int | None = -998) -> Path:
    b = root / "bundle"
    b.mkdir()
    config = {
        "ociVersion": "1.2.0",
        "process": process_doc(oom),
        "root": {"path": "rootfs"},
        "linux": {"resources": {"memory": {"limit": BIG}}, "namespaces": [{"type": "pid"}]},
    }
    (b / "config.json").write_text(json.dumps(config, indent=2))
    (b / "config.json").chmod(0o640)
    return b


def test_create_patches_config_before_exec(wrapper: Path, fake: Fake) -> None:
    b = bundle(fake.root)
    args = ["--root", "/x", "--log", "/y", "--log-format", "json", "create", "--bundle", str(b), "ctr1"]

    proc = run(wrapper, args, fake.env(snapshot_of=b / "config.json"))

    assert proc.returncode == 0, proc.stderr
    assert fake.argv == args
    seen_by_runc = json.loads(fake.snapshot.read_text())
    assert seen_by_runc == json.loads((b / "config.json").read_text())
    caps = seen_by_runc["process"]["capabilities"]
    assert caps == {s: KEPT for s in ALL_SETS}
    assert seen_by_runc["process"]["oomScoreAdj"] == 0
    assert seen_by_runc["linux"]["resources"]["memory"]["limit"] == BIG
    assert seen_by_runc["root"] == {"path": "rootfs"}
    assert (b / "config.json").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("form", ["--bundle=B", "-b B", "cwd", "run"])
def test_bundle_forms(wrapper: Path, fake: Fake, form: str) -> None:
    b = bundle(fake.root)
    cwd = None
    if form == "--bundle=B":
        args = ["create", f"--bundle={b}", "ctr1"]
    elif form == "-b B":
        args = ["create", "-b", str(b), "ctr1"]
    elif form == "cwd":
        args, cwd = ["create", "ctr1"], b
    else:
        args = ["--root", "/x", "run", "--bundle", str(b), "ctr1"]

    proc = run(wrapper, args, fake.env(), cwd=cwd)

    assert proc.returncode == 0, proc.stderr
    assert fake.argv == args
    patched = json.loads((b / "config.json").read_text())["process"]
    assert "CAP_SYS_RESOURCE" not in json.dumps(patched)
    assert patched["oomScoreAdj"] == 0


def test_exec_patches_process_file(wrapper: Path, fake: Fake) -> None:
    p = fake.root / "process.json"
    p.write_text(json.dumps(process_doc(-999)))
    args = ["--root", "/x", "exec", "--process", str(p), "--detach", "ctr1"]

    proc = run(wrapper, args, fake.env(snapshot_of=p))

    assert proc.returncode == 0, proc.stderr
    assert fake.argv == args
    seen = json.loads(fake.snapshot.read_text())
    assert seen["capabilities"] == {s: KEPT for s in ALL_SETS}
    assert seen["oomScoreAdj"] == 0
    assert seen["args"] == ["/sbin/init"]


@pytest.mark.parametrize("oom", [500, 0, None])
def test_non_negative_or_absent_oom_score_is_untouched(wrapper: Path, fake: Fake, oom: int | None) -> None:
    p = fake.root / "process.json"
    p.write_text(json.dumps(process_doc(oom)))

    proc = run(wrapper, ["exec", "-p", str(p), "ctr1"], fake.env())

    assert proc.returncode == 0, proc.stderr
    seen = json.loads(p.read_text())
    assert seen.get("oomScoreAdj", "absent") == (oom if oom is not None else "absent")
    assert seen["capabilities"]["bounding"] == KEPT


@pytest.mark.parametrize("sub", [["state", "ctr1"], ["delete", "ctr1"], ["exec", "ctr1", "ls"]])
def test_other_commands_touch_nothing(wrapper: Path, fake: Fake, sub: list[str]) -> None:
    b = bundle(fake.root)
    before = (b / "config.json").read_bytes()
    args = ["--root", "/x", *sub]

    proc = run(wrapper, args, fake.env(), cwd=b)

    assert proc.returncode == 0, proc.stderr
    assert fake.argv == args
    assert (b / "config.json").read_bytes() == before


def test_unparsable_config_stops_before_runc(wrapper: Path, fake: Fake) -> None:
    b = fake.root / "bundle"
    b.mkdir()
    (b / "config.json").write_text("{not json")

    proc = run(wrapper, ["create", "--bundle", str(b), "ctr1"], fake.env())

    assert proc.returncode == 1
    assert "runc-wrapper: parse" in proc.stderr and "config.json" in proc.stderr
    assert not fake.argv_file.exists()


def test_missing_real_runc_override_fails_clearly(wrapper: Path, tmp_path: Path) -> None:
    nowhere = tmp_path / "no-such-runc"
    proc = run(wrapper, ["state", "ctr1"], {**os.environ, "EDGELAB_REAL_RUNC": str(nowhere)})
    assert proc.returncode == 127
    assert "no real runc found" in proc.stderr


def test_no_real_runc_anywhere_fails_clearly(wrapper: Path) -> None:
    env = {**os.environ, "EDGELAB_REAL_RUNC": ""}
    present = [c for c in CANDIDATES if os.path.lexists(c)]
    if not present:
        proc = run(wrapper, ["state", "ctr1"], env)
    else:
        # Hide the host's runc in a private mount namespace; /usr/bin last,
        # since `mount` itself lives there.
        dirs = sorted({os.path.dirname(c) for c in CANDIDATES}, key=lambda d: d == "/usr/bin")
        script = "".join(f"mount -t tmpfs edgelab-test {d} || exit 99; " for d in dirs if os.path.isdir(d))
        script += f'exec "{wrapper}" state ctr1'
        if shutil.which("unshare") is None:
            pytest.skip(f"host has {present} and no `unshare` to hide it")
        proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], env=env, capture_output=True,
                              text=True, timeout=30, check=False)
        if proc.returncode == 99 or "unshare failed" in proc.stderr:
            pytest.skip(f"host has {present} and cannot hide it in a mount namespace: {proc.stderr.strip()}")
    assert proc.returncode == 127, proc.stderr
    assert "no real runc found (set EDGELAB_REAL_RUNC)" in proc.stderr
