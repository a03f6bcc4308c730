"""Instructor fault drills: a plan of incidents over several stores, run on its own clock, measured per responder.

A plan (`drills/*.yaml`, schema `Plan` below) names the stores (id, nodes,
profile, the address their API server answers on), the responders on call for
each store, and a timeline: at t+N, a lab (its ticket, its drawn faults, its
rubric) or a bare fault (with the ticket the instructor writes) on one store.

`start` brings the stores up (or reuses those already up with the same nodes),
issues each responder's identity (responders.py), resets every store, writes
the drill's state and starts the drill's clock: a detached process (`run`),
so the drill goes on when the instructor's terminal closes. The clock injects
each incident when it is due and watches for recovery; `status` shows where
the drill is (and starts the clock again if it died); `submit` grades one
responder's findings for the incident on their store (their own requests in
the audit trail, by their user name); `stop` ends the drill: the clock stops,
the audit trail is kept with the drill, every fault is reverted and every
store is reset until healthy; `report` measures every responder (drill/report.py).

State: one folder per drill under `$XDG_STATE_HOME/edgelab/drills/`, its
`state.json` written atomically under a lock (the clock and the commands
both write), and `current` naming the running drill.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgelab.base import durations, files, paths
from edgelab.base.errors import EdgelabError
from edgelab.base.paths import REPO
from edgelab.base.types import Say
from edgelab.drill import report as drillreport
from edgelab.drill.report import clock
from edgelab.kube import audit, faults
from edgelab.labs import attempts, catalogue, debrief, grading, progress, session, vocab
from edgelab.store import responders, stores
from edgelab_operator import catalogue as cat

DRILLS = REPO / "drills"
API_VERSION = "edgelab/v1"
TICK = 2.0  # seconds between two looks of the clock: the tolerance of injection and recovery times


class DrillError(EdgelabError):
    """A plan that does not follow the schema, no drill running, or a drill already running."""


# --- the plan --------------------------------------------------------------------------------------------------

StoreId = Annotated[str, Field(pattern=r"^[0-9]{1,6}$")]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,29}$")]
Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Duration = Annotated[str, Field(pattern=r"^[0-9]+[smh]$")]


def seconds(text: str) -> float:
    """`90s`, `5m`, `1h` in seconds: the operator's own duration format (base.durations)."""
    try:
        return durations.seconds(text)
    except durations.InvalidFault as e:
        raise DrillError(str(e)) from e


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanStore(_Model):
    id: StoreId
    nodes: Annotated[int, Field(ge=1, le=3)] = 1
    profile: str | None = None
    listen: str | None = None  # the class network address its API server answers on (default 127.0.0.1)


class FaultRef(_Model):
    type: Id
    target: str | None = None  # namespace/deployment


class Entry(_Model):
    at: Duration  # after the drill's start
    store: StoreId
    lab: Id | None = None
    fault: FaultRef | None = None
    title: str | None = None  # a bare fault's: what the scoreboard calls it
    ticket: str | None = None  # a bare fault's: what the responders read

    @model_validator(mode="after")
    def _one(self) -> Entry:
        if (self.lab is None) == (self.fault is None):
            raise ValueError("an entry is a `lab` or a `fault`, exactly one")
        if self.fault is not None and not (self.title and self.ticket):
            raise ValueError("a bare fault needs the `title` and `ticket` the responders will read")
        return self


class OnCall(_Model):
    name: Name
    store: StoreId


class Plan(_Model):
    apiVersion: Literal["edgelab/v1"]  # noqa: N815 (the YAML's own key)
    kind: Literal["Drill"]
    name: Id
    title: Annotated[str, Field(min_length=1)]
    stores: list[PlanStore] = Field(min_length=1)
    responders: list[OnCall] = Field(min_length=1)
    timeline: list[Entry] = Field(min_length=1)
    duration: Duration | None = None  # the drill ends by itself this long after its start


RESERVED = ("learner", "admin")


def _check(plan: Plan) -> list[str]:
    """What the schema cannot say: references between the plan's parts, labs and faults that exist."""
    problems: list[str] = []
    ids = [s.id for s in plan.stores]
    nodes = {s.id: s.nodes for s in plan.stores}
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"stores: store {dup} is listed twice")
    for i, s in enumerate(plan.stores):
        if s.listen is not None:
            try:
                ipaddress.ip_address(s.listen)
            except ValueError:
                problems.append(f"stores[{i}].listen: {s.listen!r} is not an IP address")
        if s.profile is not None:
            try:
                stores.profile(s.profile)
            except EdgelabError as e:
                problems.append(f"stores[{i}].profile: {e}")
    names = [r.name for r in plan.responders]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"responders: {dup} is listed twice")
    for i, r in enumerate(plan.responders):
        if r.name in RESERVED or r.name.startswith("system"):
            problems.append(f"responders[{i}].name: {r.name!r} is reserved")
        if r.store not in nodes:
            problems.append(f"responders[{i}].store: store {r.store} is not among the plan's stores")
    for i, entry in enumerate(plan.timeline):
        if entry.store not in nodes:
            problems.append(f"timeline[{i}].store: store {entry.store} is not among the plan's stores")
            continue
        if entry.lab is not None:
            try:
                lab = catalogue.get(entry.lab)
            except EdgelabError as err:
                problems.append(f"timeline[{i}].lab: {err}")
                continue
            if lab.min_nodes > nodes[entry.store]:
                problems.append(f"timeline[{i}].lab: {entry.lab} needs {lab.min_nodes} nodes; store {entry.store} has "
                                f"{nodes[entry.store]}")
        if entry.fault is not None:
            try:
                ft = faults.catalogue().get(entry.fault.type)
                if entry.fault.target is not None:
                    cat.split_target(entry.fault.target)
                    if entry.fault.target not in ft.targets:
                        problems.append(f"timeline[{i}].fault.target: {entry.fault.target} is not a target of "
                                        f"{entry.fault.type} ({', '.join(ft.targets)})")
            except Exception as err:  # the catalogue's own errors name the type or target
                problems.append(f"timeline[{i}].fault: {err}")
    if not any(r.store == e.store for e in plan.timeline for r in plan.responders):
        problems.append("responders: nobody is on call for a store of the timeline")
    return problems


def load_plan(path: Path) -> Plan:
    """Load and check a plan; DrillError lists every problem, each naming the field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise DrillError(f"{path}: cannot read the plan: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise DrillError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise DrillError(f"{path}: a drill plan is a mapping (apiVersion, kind, name, stores, responders, timeline)")
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(top level)"
            got = f" (got {e['input']!r})" if e["type"] != "missing" else ""
            lines.append(f"{path}: {where}: {e['msg']}{got}")
        raise DrillError("\n".join(lines) + "\nSee docs/drills.md for the plan's fields.") from err
    problems = _check(plan)
    if problems:
        raise DrillError("\n".join(f"{path}: {p}" for p in problems) + "\nSee docs/drills.md for the plan's fields.")
    return plan


def find_plan(name_or_path: str) -> Path:
    """A plan file, or the name of one in drills/."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if re.fullmatch(r"[a-z0-9][a-z0-9-]*", name_or_path) and (DRILLS / f"{name_or_path}.yaml").is_file():
        return DRILLS / f"{name_or_path}.yaml"
    known = ", ".join(sorted(p.stem for p in DRILLS.glob("*.yaml"))) or "none"
    raise DrillError(f"no drill plan {name_or_path!r}: give a plan file or one of drills/ ({known})")


# --- state on disk ---------------------------------------------------------------------------------------------


def root() -> Path:
    return paths.state_root() / "drills"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat()


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def current() -> Path | None:
    """The folder of the running drill (or of the last one, stopped), if any."""
    marker = root() / "current"
    if not marker.exists():
        return None
    folder = root() / marker.read_text().strip()
    return folder if (folder / "state.json").exists() else None


def read(folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((folder / "state.json").read_text())
    return result


def _write(folder: Path, state: dict[str, Any]) -> None:
    files.write_atomic(folder / "state.json", json.dumps(state, indent=1), mode=0o600)  # never a half-written state


@contextlib.contextmanager
def changing(folder: Path) -> Iterator[dict[str, Any]]:
    """Read the state under the drill's lock, let the caller change it, write it back."""
    with files.locked(folder / "state.json", lock_file=folder / "lock"):
        state = read(folder)
        yield state
        _write(folder, state)


def need(folder: Path | None = None) -> Path:
    folder = folder or current()
    if folder is None:
        raise DrillError("no drill has been started on this machine (edgelab drill start PLAN)")
    return folder


# --- start ----------------------------------------------------------------------------------------------------


def _on(say: Say, store: str) -> Say:
    return lambda message: say(f"store {store}: {message}")


def start(plan_path: Path, artifacts: Any, say: Say = lambda _: None) -> Path:
    """Bring the plan's stores up, issue the responders, reset the stores, start the clock; the drill's folder."""
    plan = load_plan(plan_path)
    running = current()
    if running is not None and read(running)["state"] == "running":
        st = read(running)
        raise DrillError(f"drill {st['name']} is running since {st['started_at']}; `edgelab drill stop` first")
    for s in plan.stores:
        if _reusable(s):
            say(f"store {s.id}: up and healthy with {s.nodes} node(s): reusing it")
            continue
        say(f"store {s.id}: bringing it up ({s.nodes} node(s))")
        stores.up(s.id, s.nodes, s.profile, artifacts, say=_on(say, s.id), listen=s.listen)
    people = []
    for r in plan.responders:
        say(f"issuing {r.name}'s identity on store {r.store}")
        issued = responders.add(r.store, r.name)
        people.append({"name": r.name, "store": r.store, "kubeconfig": str(issued.kubeconfig),
                       "token": secrets.token_urlsafe(18)})  # for `POST /submit` of `drill serve`
    for s in plan.stores:
        say(f"store {s.id}: resetting")
        session.stop(s.id, say=_on(say, s.id))
    started = _now()
    folder = root() / f"{plan.name}-{started:%Y%m%dT%H%M%S}"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o700)
    incidents: list[dict[str, Any]] = []
    for n, e in enumerate(sorted(plan.timeline, key=lambda e: seconds(e.at)), 1):
        title = e.title or (catalogue.get(e.lab).title if e.lab else "")
        incidents.append({"id": f"i{n}", "store": e.store, "lab": e.lab,
                          "fault": e.fault.model_dump() if e.fault else None, "title": title,
                          "ticket": e.ticket or "", "planned_at_s": seconds(e.at), "injected_at": None,
                          "recovered_at": None, "ended_at": None, "target": e.fault.target if e.fault else None,
                          "attempt": None, "faults": [], "error": None})
    state = {
        "name": plan.name, "title": plan.title, "plan": str(Path(plan_path).resolve()), "state": "running",
        "started_at": _iso(started), "ended_at": None,
        "duration_s": seconds(plan.duration) if plan.duration else None,
        "stores": [{"id": s.id, "nodes": s.nodes, "server": stores.server_url(s.id)} for s in plan.stores],
        "responders": people, "incidents": incidents, "submissions": [], "hints": [], "clock": None,
        "key": secrets.token_urlsafe(18),  # the instructor's: `drill serve`'s page names the answers
    }
    _write(folder, state)
    files.write_locked(root() / "current", folder.name)
    start_clock(folder)
    return folder


def _reusable(s: PlanStore) -> bool:
    """A store already up, healthy, with the plan's nodes (and address): the drill uses it as it is."""
    if not stores.paths(s.id).admin_kubeconfig.exists():
        return False
    try:
        st = stores.status(s.id)
    except EdgelabError:
        return False
    have = len(stores.node_containers(stores.cluster_name(s.id)))
    if have != s.nodes:
        raise DrillError(f"store {s.id} is up with {have} node(s); the plan wants {s.nodes}: "
                         f"`edgelab down --store {s.id}` first, or change the plan")
    host = stores.listen_address(s.id)
    if s.listen and host != s.listen:
        raise DrillError(f"store {s.id} is up answering on {host}; the plan wants {s.listen}: "
                         f"`edgelab down --store {s.id}` first, or change the plan")
    return st.healthy


# --- the clock --------------------------------------------------------------------------------------------------


def _alive(folder: Path, clock: dict[str, Any] | None) -> bool:
    if not clock:
        return False
    try:
        cmdline = Path(f"/proc/{clock['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:  # not Linux: the pid alone
            os.kill(int(clock["pid"]), 0)
            return True
        except OSError:
            return False
    return str(folder).encode() in cmdline


def start_clock(folder: Path) -> int:
    """Start the drill's clock as a process of its own session (it outlives the terminal); its pid."""
    log = open(folder / "clock.log", "a")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen([sys.executable, "-m", "edgelab.drill", "run", str(folder)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    log.close()
    with changing(folder) as st:
        st["clock"] = {"pid": proc.pid, "since": _iso(_now())}
    return proc.pid


def run(folder: Path) -> None:
    """The clock: inject each incident when due, watch recovery, end the drill at its duration. Until stopped."""
    def terminate(*_: Any) -> None:
        raise SystemExit(0)  # through the `finally`s: a half-made injection is cleared by session.start

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    print(f"{_now():%H:%M:%S} clock started for {folder}", flush=True)
    while True:
        st = read(folder)
        if st["state"] != "running":
            print(f"{_now():%H:%M:%S} drill {st['state']}; clock ends", flush=True)
            return
        elapsed = (_now() - datetime.fromisoformat(st["started_at"])).total_seconds()
        if st.get("duration_s") is not None and elapsed >= st["duration_s"]:
            print(f"{_now():%H:%M:%S} the drill's duration is over", flush=True)
            finish(folder, state="finished", say=lambda m: print(m, flush=True), from_clock=True)
            return
        due = [i for i in st["incidents"] if i["injected_at"] is None and not i["error"]
               and i["planned_at_s"] <= elapsed]
        if due:
            _inject(folder, due[0]["id"])
            continue
        for inc in st["incidents"]:
            if inc["injected_at"] and not inc["recovered_at"] and not inc["ended_at"]:
                _watch(folder, inc)
        time.sleep(TICK)


def _inject(folder: Path, incident_id: str) -> None:
    st = read(folder)
    inc = next(i for i in st["incidents"] if i["id"] == incident_id)
    print(f"{_now():%H:%M:%S} injecting {inc['id']} on store {inc['store']}", flush=True)
    now = _now()
    with changing(folder) as s:  # an earlier incident on this store ends here: its store is reset
        for other in s["incidents"]:
            if other["store"] == inc["store"] and other["injected_at"] and not other["ended_at"]:
                other["ended_at"] = _iso(now)
    update: dict[str, Any]
    try:
        if inc["lab"]:
            _, running = session.start(inc["store"], inc["lab"])
            update = {"attempt": running.attempt.to_dict(), "faults": running.faults,
                      "injected_at": _iso(running.attempt.started_at), "target": running.attempt.targets[0]}
        else:
            session.stop(inc["store"])
            obj = stores.fault_client(inc["store"]).inject(
                inc["fault"]["type"], target=inc["fault"]["target"])
            ft = faults.catalogue().get(inc["fault"]["type"])
            update = {"faults": [obj["metadata"]["name"]], "injected_at": _iso(_now()),
                      "target": inc["fault"]["target"] or ft.default_target}
    except Exception as e:  # the drill goes on; the scoreboard says this incident failed to start
        traceback.print_exc()
        update = {"error": f"{type(e).__name__}: {e}"}
    with changing(folder) as s:
        next(i for i in s["incidents"] if i["id"] == incident_id).update(update)
    print(f"{_now():%H:%M:%S} {inc['id']}: {update.get('error') or 'injected at ' + str(update['injected_at'])}",
          flush=True)


def recovered(inc: dict[str, Any]) -> bool | None:
    """Whether the incident's store is back: the lab's remediation goals met, else the store healthy again.

    None when it cannot be said (the store does not answer)."""
    try:
        if inc["lab"] and inc["attempt"]:
            lab = catalogue.get(inc["lab"])
            if lab.remediation is not None:
                attempt = attempts.Attempt.from_dict(inc["attempt"])
                state = session.remediation_state(session.store_api(inc["store"]))
                lines = grading.remediation_lines(lab, attempt, state)
                return all(x.ok for x in lines)
        return stores.status(inc["store"]).healthy
    except Exception:
        return None


def _watch(folder: Path, inc: dict[str, Any]) -> None:
    back = recovered(inc)
    if back is None:
        return
    with changing(folder) as s:
        live = next(i for i in s["incidents"] if i["id"] == inc["id"])
        if live["ended_at"] or live["recovered_at"]:
            return
        if not back:
            live["seen_broken"] = True
        elif live.get("seen_broken"):  # healthy again after having been seen broken: recovered
            live["recovered_at"] = _iso(_now())
            print(f"{_now():%H:%M:%S} {inc['id']}: recovered", flush=True)


# --- commands -------------------------------------------------------------------------------------------------


def status(folder: Path | None = None, resume: bool = True) -> dict[str, Any]:
    """The drill's state, with `clock_running`; a running drill whose clock died gets it back (`resumed`)."""
    folder = need(folder)
    st = read(folder)
    alive = _alive(folder, st.get("clock"))
    st["resumed"] = False
    if st["state"] == "running" and not alive and resume:
        start_clock(folder)
        st, alive, st["resumed"] = read(folder), True, True
    st["clock_running"] = alive
    st["folder"] = str(folder)
    st["elapsed_s"] = ((_at(st["ended_at"]) or _now()) - datetime.fromisoformat(st["started_at"])).total_seconds()
    return st


def _responder(st: dict[str, Any], name: str) -> dict[str, Any]:
    for r in st["responders"]:
        if r["name"] == name:
            return dict(r)
    raise DrillError(f"{name!r} is not a responder of drill {st['name']} "
                     f"({', '.join(r['name'] for r in st['responders'])})")


def _incident_for(st: dict[str, Any], responder: dict[str, Any], incident: str | None) -> dict[str, Any]:
    mine = [i for i in st["incidents"] if i["store"] == responder["store"]]
    if incident is not None:
        for i in mine:
            if i["id"] == incident:
                return dict(i)
        raise DrillError(f"incident {incident} is not on store {responder['store']} "
                         f"({', '.join(i['id'] for i in mine) or 'none'})")
    live = [i for i in mine if i["injected_at"] and i["lab"]]
    if not live:
        raise DrillError(f"no graded incident has begun on store {responder['store']} yet")
    return dict(live[-1])


def submit(name: str, answer: grading.Answer, incident: str | None = None, folder: Path | None = None,
           db: Path | None = None) -> tuple[dict[str, Any], grading.Result]:
    """Grade `name`'s findings for the incident on their store (the latest one begun, or `incident`).

    Graded exactly like a lab: their own requests in the audit trail since the
    ticket, their findings, the store as it is now; nothing is cleared (others may
    still be at work). Recorded with the drill and in the progress database.
    """
    folder = need(folder)
    st = read(folder)
    if st["state"] != "running":
        raise DrillError(f"drill {st['name']} is {st['state']}: submissions are closed")
    responder = _responder(st, name)
    inc = _incident_for(st, responder, incident)
    if inc["ended_at"]:
        raise DrillError(f"incident {inc['id']} on store {inc['store']} has ended: submissions are closed")
    if not inc["attempt"]:
        raise DrillError(f"incident {inc['id']} is a bare fault: nothing to grade findings against")
    lab = catalogue.get(inc["lab"])
    attempt = replace(attempts.Attempt.from_dict(inc["attempt"]), user=name)
    hints = sum(1 for h in st["hints"] if h["responder"] == name and h["incident"] == inc["id"])
    result = session.grade_attempt(inc["store"], lab, attempt, answer, hints)
    with changing(folder) as s:
        s["submissions"].append({"responder": name, "incident": inc["id"], "at": _iso(_now()),
                                 "result": result.to_dict()})
    with progress.Progress(db) as p:
        p.record(name, result)
    return inc, result


def submit_http(folder: Path, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """`POST /submit` of `drill serve`: the responder whose token it is submits `body` (findings YAML/JSON)."""
    st = read(folder)
    who = next((r["name"] for r in st["responders"]
                if token and secrets.compare_digest(str(r.get("token", "")), token)), None)
    if who is None:
        return 401, {"error": "unknown token: use the one your instructor gave you (Authorization: Bearer TOKEN)"}
    try:
        answer = grading.parse_findings(body.decode("utf-8", errors="replace"))
    except grading.FindingsError as e:
        return 400, {"error": str(e)}
    try:
        inc, result = submit(who, answer, folder=folder)
    except DrillError as e:
        return 409, {"error": str(e)}
    return 200, {"responder": who, "incident": inc["id"], "passed": result.passed, "score": result.score,
                 "explain": result.explain()}


_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def report_cached(folder: Path, max_age: float = 3.0) -> dict[str, Any]:
    """`report`, built at most once per `max_age` seconds (many pages polling read the audit trails once)."""
    key = str(folder)
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < max_age:
        return hit[1]
    rep = report(folder)
    _cache[key] = (time.monotonic(), rep)
    return rep


def hint(name: str, folder: Path | None = None) -> tuple[dict[str, Any], str, int, int]:
    """The next hint of the incident on `name`'s store, recorded against them: (incident, text, n, of)."""
    folder = need(folder)
    st = read(folder)
    inc = _incident_for(st, _responder(st, name), None)
    lab = catalogue.get(inc["lab"])
    if not lab.hints:
        raise DrillError(f"lab {lab.id} has no hints")
    shown = sum(1 for h in st["hints"] if h["responder"] == name and h["incident"] == inc["id"])
    n = min(shown + 1, len(lab.hints))
    if n > shown:
        with changing(folder) as s:
            s["hints"].append({"responder": name, "incident": inc["id"], "at": _iso(_now()), "n": n})
    values = attempts.Attempt.from_dict(inc["attempt"]).values
    return inc, vocab.fill(lab.hints[n - 1], values), n, len(lab.hints)


def _stop_clock(folder: Path, st: dict[str, Any], timeout: float = 120) -> None:
    clock = st.get("clock")
    if not _alive(folder, clock):
        return
    pid = int(clock["pid"])  # type: ignore[index]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout  # an injection under way finishes its cleanup first
    while time.monotonic() < deadline and _alive(folder, clock):
        time.sleep(0.5)
    if _alive(folder, clock):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _keep_audit(folder: Path, st: dict[str, Any]) -> None:
    """The stores' audit trails since the drill's start, kept with the drill (the stores may go)."""
    since = datetime.fromisoformat(st["started_at"])
    for s in st["stores"]:
        try:
            events = stores.audit_events(s["id"], since=since)
        except EdgelabError:
            continue
        (folder / f"audit-{s['id']}.json").write_text(json.dumps(events))


def finish(folder: Path | None = None, state: str = "stopped", say: Say = lambda _: None,
           from_clock: bool = False) -> dict[str, Any]:
    """End the drill: the clock stops, the audit trail is kept, every store reset (faults reverted, healthy)."""
    folder = need(folder)
    with changing(folder) as st:
        if st["state"] == "running":
            st["state"], st["ended_at"] = state, _iso(_now())
        ended = st["ended_at"] or _iso(_now())
        for inc in st["incidents"]:
            if inc["injected_at"] and not inc["ended_at"]:
                inc["ended_at"] = ended
    if not from_clock:
        _stop_clock(folder, st)
    _keep_audit(folder, st)
    problems = []
    for s in st["stores"]:
        say(f"store {s['id']}: reverting every fault and resetting")
        try:
            session.stop(s["id"], say=_on(say, s["id"]))
        except EdgelabError as e:
            problems.append(f"store {s['id']}: {e}")
    if problems:
        raise DrillError("the drill is stopped, but not every store is healthy again:\n" + "\n".join(problems)
                         + "\nRun `edgelab drill stop` again, or `edgelab lab stop --store N` for one store.")
    return read(folder)


def events_by_store(folder: Path, st: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each store's audit events since the drill began: kept with a stopped drill, read live otherwise."""
    since = datetime.fromisoformat(st["started_at"])
    out: dict[str, list[dict[str, Any]]] = {}
    for s in st["stores"]:
        kept = folder / f"audit-{s['id']}.json"
        if kept.exists():
            out[s["id"]] = json.loads(kept.read_text())
            continue
        follower = _followers.get((s["id"], st["started_at"]))
        try:
            if follower is None:
                follower = _followers[(s["id"], st["started_at"])] = stores.audit_follower(s["id"], since=since)
            out[s["id"]] = follower.events()
        except EdgelabError:  # the store does not answer now: what was read of it stays on the board
            out[s["id"]] = list(follower.best.values()) if follower is not None else []
    return out


# Each store's trail as read so far, by (store, drill start): a live page refreshing reads only what is new.
_followers: dict[tuple[str, str], audit.Follower] = {}


def report(folder: Path | None = None) -> dict[str, Any]:
    """The drill's report (drill/report.py: scoreboard, metrics, timelines), as of now."""
    folder = need(folder)
    st = read(folder)
    return drillreport.build(st, events_by_store(folder, st), _now())


def since_start(st: dict[str, Any], when: str | None) -> str:
    """`+m:ss` on the drill's clock (drillreport.clock), or `-`."""
    if not when:
        return "-"
    return clock((datetime.fromisoformat(when) - datetime.fromisoformat(st["started_at"])) / timedelta(seconds=1))


# --- what a person reads of the status (the CLI draws it) ------------------------------------------------------

INCIDENT_COLUMNS = ["incident", "store", "title", "planned", "began", "recovered", "ended"]
RESPONDER_COLUMNS = ["responder", "store", "submissions", "kubeconfig"]


def status_headline(st: dict[str, Any]) -> str:
    """The drill's title, state, time since its start and its clock (rich markup)."""
    clock = "running" if st["clock_running"] else "not running"
    return (f"[bold]{st['title']}[/bold] ({st['name']}): {st['state']}, {debrief.clock(st['elapsed_s'])}"
            f" since {st['started_at'][:19]}Z; clock {clock}"
            + (" (started again)" if st["resumed"] else ""))


def incident_rows(st: dict[str, Any]) -> list[list[str]]:
    rows = []
    for i in st["incidents"]:
        began = since_start(st, i["injected_at"]) if not i["error"] else f"failed: {i['error']}"
        rows.append([i["id"], i["store"], i["title"], debrief.clock(i["planned_at_s"]), began,
                     since_start(st, i["recovered_at"]), since_start(st, i["ended_at"])])
    return rows


def responder_rows(st: dict[str, Any]) -> list[list[str]]:
    rows = []
    for r in st["responders"]:
        subs = [s for s in st["submissions"] if s["responder"] == r["name"]]
        rows.append([r["name"], r["store"], ", ".join(f"{s['incident']} {s['result']['score']:g}%" for s in subs)
                     or "-", r["kubeconfig"]])
    return rows

