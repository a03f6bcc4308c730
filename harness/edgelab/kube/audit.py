"""The audit trail: the API server of each store logs who did what, inside its control-plane node.

Host folder layout (one per store, made by `prepare_host_dir`)::

    <host_dir>/policy/policy.yaml   the audit policy (manifests/audit/policy.yaml),
                                    mounted read-only into the control-plane node

The log itself stays in the node (`/var/log/kubernetes/audit/audit.log`,
rotated next to it as audit-<time>.log), written by the API server as root,
mode 0600. It is read through the store's node provider (`copy_from_node`,
kube/nodes.py): today the Docker engine, which any user of the `docker`
group may use, on Linux and macOS alike, and with a remote engine
(`DOCKER_HOST`) for stores on another machine of a class; nothing
root-owned is left in the user's home.

`add_to_kind_config` wires the policy into a kind config; `read_events`
and `describe` turn the log into data for grading and for humans.

What the log looks like (measured, see docs/ENVIRONMENT "Audit trail"): one
JSON object per line at Metadata level; `requestURI` keeps the query
(`?previous=true`, `follow=true`); logs, exec and watches write two lines
per request (stages ResponseStarted and ResponseComplete, same auditID).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import gc
import shutil
import tarfile
import tempfile
from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
import yaml

from edgelab.base.errors import ClusterError
from edgelab.base.paths import REPO
from edgelab.kube.nodes import NodeProvider

POLICY = REPO / "manifests" / "audit" / "policy.yaml"

# Inside the control-plane node (and, through kubeadm's extraVolumes, inside
# the kube-apiserver static pod at the same paths).
NODE_POLICY_DIR = "/etc/kubernetes/audit-policy"
NODE_LOG_DIR = "/var/log/kubernetes/audit"
POLICY_FILE = "policy.yaml"
LOG_FILE = "audit.log"

# Log rotation by the API server: 100 MB per file is ~90,000 learner requests.
MAX_SIZE_MB = 100
MAX_BACKUPS = 5

# Stages of one request, least to most final; `read_events` keeps the last.
_STAGES = {"RequestReceived": 0, "ResponseStarted": 1, "ResponseComplete": 2, "Panic": 3}

# Query parameters kubectl adds on its own to every list; `describe` hides them.
_QUIET_PARAMS = {"limit"}


def policy_dir(host_dir: Path) -> Path:
    return host_dir / "policy"


def log_dir(host_dir: Path) -> Path:
    return host_dir / "log"


def log_path(host_dir: Path) -> Path:
    """The current audit log of the store whose host folder is `host_dir`."""
    return log_dir(host_dir) / LOG_FILE


def prepare_host_dir(host_dir: Path) -> Path:
    """Make the host folder (policy written); return the policy file. Safe to repeat."""
    host_dir = host_dir.resolve()
    policy_dir(host_dir).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POLICY, policy_dir(host_dir) / POLICY_FILE)
    return policy_dir(host_dir) / POLICY_FILE


def copy_from_node(provider: NodeProvider, node: str, dest: Path) -> Path:
    """Copy the audit log folder out of control-plane node `node` (run by `provider`) into `dest`; return `dest`.

    Through the provider's copy (`docker cp`, a tar stream): no root, no host
    mount. Only the `*.log` files are kept; a node without a log yet gives an
    empty folder.
    """
    dest.mkdir(parents=True, exist_ok=True)
    proc = provider.copy_out(node, f"{NODE_LOG_DIR}/.")
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name.endswith(".log"):
                    src = tar.extractfile(member)
                    if src is not None:
                        with open(dest / name, "wb") as out:
                            shutil.copyfileobj(src, out)
    except tarfile.ReadError:
        pass  # nothing streamed: the error is on stderr
    _, err = proc.communicate()
    if proc.returncode != 0 and b"No such container" in err:
        raise ClusterError(f"the store's control-plane node {node} does not exist: is the store up?")
    if proc.returncode != 0 and b"Could not find the file" not in err:
        raise ClusterError(f"cannot read the audit log from {node}: {err.decode(errors='replace').strip()[-300:]}")
    return dest


def read_node_events(provider: NodeProvider, node: str, since: datetime | None = None,
                     user: str | Collection[str] | None = None) -> list[dict[str, Any]]:
    """`read_events` over the audit log of control-plane node `node`, run by `provider`."""
    with tempfile.TemporaryDirectory(prefix="edgelab-audit-") as tmp:
        return read_events(copy_from_node(provider, node, Path(tmp)), since=since, user=user)


def kubeadm_patch() -> str:
    """The ClusterConfiguration patch turning the audit log on.

    kind v0.30 renders kubeadm's v1beta3 config for Kubernetes 1.34, where
    `extraArgs` is a map (v1beta4 would want a list of name/value pairs).
    """
    patch = {
        "kind": "ClusterConfiguration",
        "apiServer": {
            "extraArgs": {
                "audit-policy-file": f"{NODE_POLICY_DIR}/{POLICY_FILE}",
                "audit-log-path": f"{NODE_LOG_DIR}/{LOG_FILE}",
                "audit-log-format": "json",
                "audit-log-maxsize": str(MAX_SIZE_MB),
                "audit-log-maxbackup": str(MAX_BACKUPS),
            },
            "extraVolumes": [
                {"name": "audit-policy", "hostPath": NODE_POLICY_DIR, "mountPath": NODE_POLICY_DIR,
                 "readOnly": True, "pathType": "DirectoryOrCreate"},
                {"name": "audit-log", "hostPath": NODE_LOG_DIR, "mountPath": NODE_LOG_DIR,
                 "readOnly": False, "pathType": "DirectoryOrCreate"},
            ],
        },
    }
    return yaml.safe_dump(patch, sort_keys=False)


def add_to_kind_config(config: dict, host_dir: Path) -> dict:
    """Return a copy of the kind `config` with the audit log on, kept in `host_dir`.

    Adds two `extraMounts` to the control-plane node (policy read-only, log
    read-write; absolute host paths, as kind resolves relative ones against
    its working directory) and the kubeadm patch. Applying it twice changes
    nothing more. Call `prepare_host_dir(host_dir)` before creating the cluster.
    """
    config = copy.deepcopy(config)
    host_dir = host_dir.resolve()
    planes = [n for n in config.get("nodes") or [] if n.get("role") == "control-plane"]
    if len(planes) != 1:
        raise ClusterError(f"the audit log needs exactly one control-plane node in the kind config; found {len(planes)}")
    mounts: list[dict[str, Any]] = [
        {"hostPath": str(policy_dir(host_dir)), "containerPath": NODE_POLICY_DIR, "readOnly": True},
    ]
    ours = {m["containerPath"] for m in mounts} | {NODE_LOG_DIR}
    node = planes[0]
    node["extraMounts"] = [m for m in node.get("extraMounts") or [] if m.get("containerPath") not in ours] + mounts
    patch = kubeadm_patch()
    patches = config.get("kubeadmConfigPatches") or []
    config["kubeadmConfigPatches"] = [p for p in patches if p != patch] + [patch]
    return config


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def when(event: dict[str, Any]) -> datetime | None:
    """When the API server received the request (aware, UTC)."""
    return _timestamp(event.get("requestReceivedTimestamp")) or _timestamp(event.get("stageTimestamp"))


def username(event: dict[str, Any]) -> str:
    return str((event.get("user") or {}).get("username", ""))


def _lines(path: Path) -> Iterable[str]:
    path = Path(path)
    files = [path] if not path.is_dir() else sorted(path.glob("*.log"), key=lambda p: (p.name == LOG_FILE, p.name))
    for file in files:
        with open(file, encoding="utf-8", errors="replace") as fh:
            yield from fh


def _verbatim(name: str) -> bool:
    """Whether `name` appears as itself in the API server's JSON (Go escapes quotes, backslash, <, >, &, controls)."""
    return bool(name) and name.isprintable() and not any(c in name for c in '"\\<>&\u2028\u2029')


def _user_set(user: str | Collection[str] | None) -> set[str] | None:
    """`user` as `read_events` takes it (one name, several, or None for everyone), as a set."""
    return None if user is None else {user} if isinstance(user, str) else set(user)


def read_events(log_path: Path, since: datetime | None = None,
                user: str | Collection[str] | None = None) -> list[dict[str, Any]]:
    """The audit events in `log_path`, one per request, oldest first.

    `log_path` is a log file, or a log folder (rotated backups, oldest
    first, then audit.log). Lines that are not JSON objects (a line the API
    server is still writing) are skipped. The stages of one request (logs,
    exec, watch) collapse into its most final one, ResponseComplete. `since`
    keeps requests received at or after it (a naive datetime is taken as UTC);
    `user` keeps one username, or any of several (a drill's responders). A
    missing file reads as no events.

    With `user`, a line that does not contain any of the names is not parsed
    at all (parsing is most of the time on a big log); the username is then
    checked exactly on the lines that do.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    users = _user_set(user)
    needles = tuple(users) if users is not None and all(map(_verbatim, users)) else None
    try:
        lines = list(_lines(log_path))
    except FileNotFoundError:
        return []
    with gc_paused():
        return _parse(lines, since, users, needles)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while building many small acyclic objects (parsed events).

    Parsing JSON makes a dict per object; every 700 allocations the collector walks the
    young ones, and ever more often the old ones: on a 100,000-event log that is more
    than half of the time (measured: docs/drill-metrics.md). Nothing parsed here holds a
    cycle; the collector is resumed (if it was on) on the way out, whatever happens.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(lines: list[str], since: datetime | None, users: set[str] | None,
           needles: tuple[str, ...] | None) -> list[dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}  # auditID -> its most final stage, in the order first seen
    _merge(best, lines, since, users, needles)
    return list(best.values())


def _merge(best: dict[str, dict[str, Any]], lines: Iterable[str], since: datetime | None, users: set[str] | None,
           needles: tuple[str, ...] | None, first: int = 0) -> int:
    """Add `lines` (numbered from `first`) to `best`; return the next line's number."""
    loads = orjson.loads  # about twice the standard library's speed on audit lines (docs/drill-metrics.md)
    n = first - 1
    for n, line in enumerate(lines, first):
        if needles is not None and not any(name in line for name in needles):
            continue
        try:
            event = loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("kind", "Event") != "Event":
            continue
        if users is not None and username(event) not in users:
            continue
        if since is not None and ((stamp := when(event)) is None or stamp < since):
            continue
        audit_id = event.get("auditID")
        key = str(audit_id) if audit_id else f"line-{n}"
        seen = best.get(key)
        if seen is None or _STAGES.get(event.get("stage", ""), -1) >= _STAGES.get(seen.get("stage", ""), -1):
            best[key] = event  # replacing a value keeps the key's place
    return n + 1


# Run in the node, in log folder $1: one line per log file, "<inode> <size> <name>".
_LIST = ("cd \"$1\" 2>/dev/null || exit 0; for f in *.log; do [ -f \"$f\" ] || continue; "
         "echo \"$(stat -c '%i %s' \"$f\") $f\"; done")
# Run in the node: bytes [$4, $4+$5) of file $2 of folder $1 as base64, if it is still inode $3 (not rotated since).
_CHUNK = ("cd \"$1\" && [ \"$(stat -c %i \"$2\")\" = \"$3\" ] && "
          "tail -c +$(($4 + 1)) \"$2\" | head -c \"$5\" | base64 -w0")


CHUNK_BYTES = 16 << 20  # the most one read of a follower fetches


class Follower:
    """One store's audit trail read as it grows: each `events()` fetches and parses only what the API server wrote
    since the last call, so a drill's live page pays for what is new, not for the drill's length.

    Files are followed by inode and byte offset: a rotation (audit.log renamed to a backup, a new audit.log begun)
    loses nothing; a line still being written waits for the next call. `since` as in `read_events`. The events
    are those `read_events` gives for the same log (same order, stages collapsed). Not thread-safe.
    """

    def __init__(self, provider: NodeProvider, node: str, since: datetime | None = None,
                 log_dir: str = NODE_LOG_DIR) -> None:
        self.provider, self.node, self.log_dir = provider, node, log_dir
        self.since = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
        self.offsets: dict[int, int] = {}  # inode -> bytes consumed (complete lines only)
        self.best: dict[str, dict[str, Any]] = {}
        self.lines = 0
        self.fetched = 0  # bytes fetched, over the follower's life (the bench reads it)

    def _listing(self) -> list[tuple[int, int, str]]:
        out = self.provider.exec(self.node, ["sh", "-c", _LIST, "list", self.log_dir], timeout=60).stdout
        files = []
        for row in out.splitlines():
            inode, size, name = row.split(" ", 2)
            files.append((int(inode), int(size), name))
        return sorted(files, key=lambda f: (f[2] == LOG_FILE, f[2]))  # backups oldest first, then the current

    def _chunk(self, name: str, inode: int, start: int, length: int) -> bytes:
        argv = ["sh", "-c", _CHUNK, "chunk", self.log_dir, name, str(inode), str(start), str(length)]
        got = self.provider.exec(self.node, argv, timeout=120, check=False)
        return base64.b64decode(got.stdout) if got.returncode == 0 else b""

    def events(self, user: str | Collection[str] | None = None) -> list[dict[str, Any]]:
        """Every event since `since`, read up to now (of `user`, one name or several, when given)."""
        files = self._listing()
        present = {inode for inode, _, _ in files}
        for inode, size, name in files:
            start = self.offsets.get(inode, 0)
            if size < start:  # not the file we read (the node was made again): read it from its start
                start = 0
            want = CHUNK_BYTES
            while start < size:  # in pieces: a first read of a long drill's log is not held whole in memory
                data = self._chunk(name, inode, start, min(size - start, want))
                self.fetched += len(data)
                end = data.rfind(b"\n") + 1
                if not end and len(data) == want:
                    want *= 2  # a line longer than a piece
                    continue
                if not end:
                    break  # a line still being written (or the file rotated away since listed): next call
                start += end
                self.offsets[inode] = start
                with gc_paused():
                    self.lines = _merge(self.best, data[:end].decode("utf-8", errors="replace").splitlines(),
                                        self.since, None, None, self.lines)
        self.offsets = {inode: off for inode, off in self.offsets.items() if inode in present}
        users = _user_set(user)
        return [e for e in self.best.values() if users is None or username(e) in users]


@functools.lru_cache(maxsize=1 << 16)
def params(uri: str) -> tuple[tuple[str, str], ...]:
    """The query parameters of a request URI, decoded, in order (blank values kept).

    Cached: a drill's log asks the same few questions (`?limit=500`) tens of thousands of times.
    """
    return tuple(parse_qsl(urlsplit(uri).query, keep_blank_values=True)) if "?" in uri else ()


def query(event: dict[str, Any]) -> str:
    """The request's query string, decoded, without kubectl's own `limit`."""
    return "&".join(f"{k}={v}" if v else k for k, v in params(str(event.get("requestURI", "")))
                    if k not in _QUIET_PARAMS)


def describe(event: dict[str, Any]) -> str:
    """One line for a human, e.g. `get pods/log pos/pos-backend-xyz?previous=true`.

    `<verb> <resource>[/<subresource>][.<group>] [<namespace>/][<name>][?<query>]`,
    `<verb> <path>` for non-resource URLs, and ` (<code>)` when the request
    failed (a 403 says the learner was refused).
    """
    verb = str(event.get("verb", "?"))
    ref = event.get("objectRef")
    if ref:
        what = str(ref.get("resource", "?"))
        if ref.get("subresource"):
            what += "/" + str(ref["subresource"])
        if ref.get("apiGroup"):
            what += "." + str(ref["apiGroup"])
        ns, name = ref.get("namespace"), ref.get("name")
        target = "/".join(str(p) for p in (ns, name) if p)
        text = f"{verb} {what}" + (f" {target}" if target else "")
        q = query(event)
        text += f"?{q}" if q else ""
    else:
        text = f"{verb} {unquote(urlsplit(str(event.get('requestURI', ''))).path) or '?'}"
    code = (event.get("responseStatus") or {}).get("code")
    if isinstance(code, int) and code >= 400:
        text += f" ({code})"
    return text
