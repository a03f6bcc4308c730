#!/usr/bin/env python3
"""The baseline responder: the course's investigation flow, as a program.

It knows nothing about labs. It reads the store through `kubectl` (the responder's
rights, from $KUBECONFIG), decides what is wrong from what kubectl shows, makes the
fix the course teaches where its evidence calls for one, and writes its findings.

The flow ("Kubernetes for incident managers", Essential kubectl Commands and the
practice scenarios), in the order it runs:

  1. Survey, namespace by namespace (pos, payment, order, observability):
       kubectl get nodes
       kubectl get pods -n NS                      is every pod Running and Ready?
       kubectl get deployments -n NS               READY n/n? (the course's red flag)
       kubectl logs POD -n NS --previous           for pods that restarted (CrashLoopBackOff)
       kubectl get endpoints -n NS                 does each Service route to Ready pods?
       kubectl get events -n NS --sort-by=.lastTimestamp
       kubectl describe pod POD -n NS              for pods that are not Running and Ready
       kubectl top pods -n NS                      CPU and memory against the limits
       kubectl logs POD -n NS                      every workload: errors, waits, repeated work
       kubectl rollout history deployment/D -n NS  what changed, and when
  2. Follow the trails: a log line that names another service's host
     (payment-service.payment.svc.cluster.local) leads to that namespace's
     service, endpoints, deployment and network policies.
  3. Decide with RULES, a table of "what I saw -> root cause" (first match wins).
     Until one matches, wait 10 s and survey again, for at most 4 minutes (or the
     run's $EDGELAB_TIME_LIMIT less 45 s): restarts, OOM kills, CPU use and
     once-a-minute log lines take a minute or two to show.
  4. Confirm on the workload found: describe a pod, read its logs, the deployment,
     its rollout history, and what the rule names (a ConfigMap, the Secrets, ...).
  5. Fix, only with what the course teaches and only when the evidence says so:
     `kubectl scale` back to the manifest's replicas for a workload scaled to zero,
     `kubectl rollout undo` for a new release that never became Ready or crashes.
  6. Findings (namespace, workload, pod_state, root_cause, evidence quoted exactly
     as the store printed it, node when a node failed): YAML to $EDGELAB_FINDINGS
     and stdout; this program's own log goes to stderr.

Python standard library only. Deterministic: the same store state gives the same
requests and the same findings (only how long it waits for a symptom varies).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STORE_NAMESPACES = ("pos", "payment", "order", "observability")
POLL_SECONDS = 10  # between two surveys while no rule matches
DEFAULT_BUDGET = 240  # seconds to look for a symptom when no time limit is given
CPU_AT_LIMIT = 0.85  # `top` at this share of the CPU limit or more: the pod is held at its limit
CPU_NEAR_CUT_LIMIT = 0.5  # after a release cut the limit, this share suffices (a busy host holds pods below it)
HOST = re.compile(r"\b([a-z0-9][a-z0-9-]*)\.([a-z0-9][a-z0-9-]*)\.svc\.cluster\.local(?::(\d+))?")
LEVEL = re.compile(r"\b(ERROR|WARN|WARNING|CRITICAL)\b")
KUBELET_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z ")

Json = dict[str, Any]


def log(message: str) -> None:
    print(f"[baseline] {message}", file=sys.stderr, flush=True)


# --- talking to the store ------------------------------------------------------------------------------------


class Kubectl:
    """`kubectl` as the responder; every command is logged to stderr, as a learner would type it."""

    def __init__(self, binary: str = "kubectl") -> None:
        self.binary = binary

    def run(self, *args: str, wait: int = 60) -> tuple[int, str]:
        """Run one command; `wait`: seconds before giving up on it (a watch such as `rollout status` needs more)."""
        command = [self.binary, *args]
        log("$ " + " ".join(command))
        limit = [] if wait > 60 else ["--request-timeout=30s"]
        try:
            proc = subprocess.run([*command, *limit], capture_output=True, text=True, timeout=wait, check=False)
        except subprocess.TimeoutExpired:
            log(f"  (no answer within {wait} s)")
            return 124, ""
        if proc.returncode != 0:
            log("  " + (proc.stderr.strip().splitlines() or ["failed"])[-1])
        return proc.returncode, proc.stdout

    def json(self, *args: str) -> Json:
        code, out = self.run(*args, "-o", "json")
        try:
            return json.loads(out) if code == 0 else {}
        except json.JSONDecodeError:
            return {}

    def items(self, *args: str) -> list[Json]:
        return list(self.json(*args).get("items") or [])


# --- what the agent saw ---------------------------------------------------------------------------------------


@dataclass
class Observations:
    """Everything kubectl showed, by namespace. Decisions are pure functions of this."""

    since: datetime = field(default_factory=lambda: datetime.now(UTC))  # log lines before this are old news
    nodes: list[Json] = field(default_factory=list)
    pods: dict[str, list[Json]] = field(default_factory=dict)
    deployments: dict[str, list[Json]] = field(default_factory=dict)
    replicasets: dict[str, list[Json]] = field(default_factory=dict)
    services: dict[str, list[Json]] = field(default_factory=dict)
    endpoints: dict[str, list[Json]] = field(default_factory=dict)
    events: dict[str, list[Json]] = field(default_factory=dict)
    top: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # ns -> pod -> (cpu m, memory Mi)
    logs: dict[str, list[str]] = field(default_factory=dict)  # "ns/pod" -> lines logged since `since`
    previous_logs: dict[str, list[str]] = field(default_factory=dict)  # "ns/pod" -> the previous container's
    secrets: dict[str, list[str]] = field(default_factory=dict)  # ns -> names (when listed)
    configmaps: dict[str, Json | None] = field(default_factory=dict)  # "ns/name" -> data (None: not found)
    network_policies: dict[str, list[str]] = field(default_factory=dict)  # ns -> names (when listed)
    printed: list[str] = field(default_factory=list)  # kubectl's text output lines (describe, top, get rows)


@dataclass(frozen=True)
class Finding:
    namespace: str
    workload: str
    pod_state: str
    root_cause: str
    rule: str  # which row of RULES decided
    evidence: tuple[str, ...] = ()
    node: str | None = None
    fix: tuple[str, ...] = ()  # kubectl arguments of the course's fix, if the evidence calls for one
    confirm: tuple[tuple[str, ...], ...] = ()  # kubectl arguments to run on the workload before concluding

    def as_yaml(self) -> str:
        def q(value: str) -> str:
            return json.dumps(value)  # a JSON string is a YAML double-quoted scalar

        lines = [f"namespace: {q(self.namespace)}", f"workload: {q(self.workload)}",
                 f"pod_state: {q(self.pod_state)}", f"root_cause: {q(self.root_cause)}", "evidence:"]
        lines += [f"  - {q(e)}" for e in self.evidence] or ["  []"]
        if self.node:
            lines.append(f"node: {q(self.node)}")
        return "\n".join(lines) + "\n"


# --- small pure helpers over kubectl JSON -------------------------------------------------------------------


def name(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def workload_of(pod_name: str, deployments: Iterable[Json]) -> str:
    """`pos-backend-76486b798c-bgw4q` -> `pos-backend` (the longest deployment name it starts with)."""
    best = ""
    for d in map(name, deployments):
        if pod_name.startswith(d + "-") and len(d) > len(best):
            best = d
    return best


def pods_of(obs: Observations, ns: str, workload: str) -> list[Json]:
    deps = obs.deployments.get(ns, [])
    return [p for p in obs.pods.get(ns, []) if workload_of(name(p), deps) == workload
            and not (p.get("metadata") or {}).get("deletionTimestamp")]


def statuses(pod: Json) -> list[Json]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def ready(pod: Json) -> bool:
    s = statuses(pod)
    return bool(s) and all(c.get("ready") for c in s)


def restarts(pod: Json) -> int:
    return sum(int(c.get("restartCount") or 0) for c in statuses(pod))


def waiting_reason(pod: Json) -> str:
    for c in statuses(pod):
        if reason := ((c.get("state") or {}).get("waiting") or {}).get("reason"):
            return str(reason)
    return ""


def last_terminated_reason(pod: Json) -> str:
    for c in statuses(pod):
        if reason := ((c.get("lastState") or {}).get("terminated") or {}).get("reason"):
            return str(reason)
    return ""


def unschedulable(pod: Json) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conds)


def replicas_wanted(dep: Json) -> int:
    return int((dep.get("spec") or {}).get("replicas") or 0)


def manifest_replicas(dep: Json) -> int | None:
    """The replicas of the manifest the store was applied from (kubectl's last-applied-configuration)."""
    applied = ((dep.get("metadata") or {}).get("annotations") or {}).get(
        "kubectl.kubernetes.io/last-applied-configuration")
    try:
        value = json.loads(applied)["spec"]["replicas"] if applied else None
    except (ValueError, KeyError, TypeError):
        return None
    return int(value) if isinstance(value, int) else None


def revision(obj: Json) -> int:
    return int(((obj.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision") or 0)


def revisions(obs: Observations, ns: str, workload: str) -> list[Json]:
    """The deployment's ReplicaSets (its rollout history), oldest first."""
    deps = obs.deployments.get(ns, [])
    return sorted((r for r in obs.replicasets.get(ns, []) if workload_of(name(r), deps) == workload
                   or name(r) == workload), key=revision)


def container(template_owner: Json) -> Json:
    spec = ((template_owner.get("spec") or {}).get("template") or {}).get("spec") or {}
    return (spec.get("containers") or [{}])[0]


def pod_hash(pod: Json) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get("pod-template-hash", ""))


def rs_hash(rs: Json) -> str:
    return str(((rs.get("metadata") or {}).get("labels") or {}).get("pod-template-hash", ""))


def manifest_template(dep: Json) -> Json | None:
    """The pod template of the manifest the store was applied from (kubectl's last-applied-configuration)."""
    applied = ((dep.get("metadata") or {}).get("annotations") or {}).get(
        "kubectl.kubernetes.io/last-applied-configuration")
    try:
        template = json.loads(applied)["spec"]["template"] if applied else None
    except (ValueError, KeyError, TypeError):
        return None
    return template if isinstance(template, dict) else None


def release_change(obs: Observations, ns: str, workload: str) -> dict[str, tuple[Any, Any]]:
    """What the revision in effect changed: image, env, resources, ... against the store's manifest (or, without
    one, the revision before it). Empty when the newest revision is the manifest's (e.g. after a rollback)."""
    history = revisions(obs, ns, workload)
    dep = next((d for d in obs.deployments.get(ns, []) if name(d) == workload), {})
    template = manifest_template(dep)
    if template is not None:
        base: Json = {"spec": {"template": template}}
    elif len(history) >= 2:
        base = history[-2]
    else:
        return {}
    if not history:
        return {}
    old, new = container(base), container(history[-1])
    out = {}
    for key in ("image", "env", "resources"):
        if (old.get(key) or None) != (new.get(key) or None):
            out[key] = (old.get(key), new.get(key))
    old_spec = ((base.get("spec") or {}).get("template") or {}).get("spec") or {}
    new_spec = ((history[-1].get("spec") or {}).get("template") or {}).get("spec") or {}
    for key in ("nodeSelector", "imagePullSecrets"):
        if (old_spec.get(key) or None) != (new_spec.get(key) or None):
            out[key] = (old_spec.get(key), new_spec.get(key))
    return out


def on_newest_revision(obs: Observations, ns: str, workload: str, pod: Json) -> bool:
    history = revisions(obs, ns, workload)
    return bool(history) and pod_hash(pod) == rs_hash(history[-1]) and len(history) > 1


def cpu_millis(text: str) -> int:
    text = str(text)
    if text.endswith("m"):
        return int(float(text[:-1]))
    if text.endswith("n"):
        return int(float(text[:-1]) / 1_000_000)
    return int(float(text) * 1000) if text else 0


def cpu_limit(pod: Json) -> int:
    spec = (pod.get("spec") or {}).get("containers") or [{}]
    limit = ((spec[0].get("resources") or {}).get("limits") or {}).get("cpu")
    return cpu_millis(limit) if limit else 0


def service_for(obs: Observations, ns: str, workload: str) -> Json | None:
    """The Service meant for a workload: its selector's app label names the workload (or matches its pods)."""
    deps = {name(d): d for d in obs.deployments.get(ns, [])}
    labels = (((deps.get(workload) or {}).get("spec") or {}).get("template") or {}).get("metadata", {}).get(
        "labels") or {}
    for svc in obs.services.get(ns, []):
        selector = (svc.get("spec") or {}).get("selector") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            return svc
    for svc in obs.services.get(ns, []):  # a selector that matches nothing any more still names its app
        selector = (svc.get("spec") or {}).get("selector") or {}
        app = str(selector.get("app", ""))
        if app and (app == workload or app.startswith(workload + "-")):
            return svc
        if ((svc.get("metadata") or {}).get("labels") or {}).get("app") == workload:
            return svc
    return None


def workload_behind(obs: Observations, ns: str, service: str) -> str:
    """The deployment a Service is for (by selector, else by the Service's own app label)."""
    for d in obs.deployments.get(ns, []):
        svc = service_for(obs, ns, name(d))
        if svc is not None and name(svc) == service:
            return name(d)
    return ""


def ready_addresses(obs: Observations, ns: str, service: str) -> int:
    for ep in obs.endpoints.get(ns, []):
        if name(ep) == service:
            return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])
    return 0


def service_ports(svc: Json) -> set[int]:
    return {int(p.get("port")) for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port")}


def events_about(obs: Observations, ns: str, workload: str) -> list[Json]:
    """Events on the workload's pods, ReplicaSets or Deployment, newest last."""
    deps = obs.deployments.get(ns, [])
    out = [e for e in obs.events.get(ns, []) if workload_of(str((e.get("involvedObject") or {}).get("name", "")),
                                                                deps) == workload
           or (e.get("involvedObject") or {}).get("name") == workload]
    return sorted(out, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))


def events_on(obs: Observations, ns: str, pods: Iterable[Json]) -> list[Json]:
    """Events on these very pods (an older pod's events, from an earlier incident, are not about them)."""
    names = {name(p) for p in pods}
    out = [e for e in obs.events.get(ns, []) if (e.get("involvedObject") or {}).get("name") in names]
    return sorted(out, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))


def lines_of(obs: Observations, ns: str, workload: str, previous: bool = False) -> list[str]:
    source = obs.previous_logs if previous else obs.logs
    return [line for p in pods_of(obs, ns, workload) for line in source.get(f"{ns}/{name(p)}", [])]


def all_warnings(obs: Observations) -> list[tuple[str, str, str]]:
    """(namespace, pod, line) for every WARN/ERROR line logged since the agent started, in a stable order."""
    return [(key.split("/")[0], key.split("/")[1], line) for key in sorted(obs.logs) for line in obs.logs[key]
            if LEVEL.search(line)]


def first_matching(lines: Iterable[str], pattern: str, limit: int = 2) -> list[str]:
    rx = re.compile(pattern, re.IGNORECASE)
    out: list[str] = []
    for line in lines:
        if rx.search(line) and line.strip() not in out:
            out.append(line.strip())
            if len(out) == limit:
                break
    return out


def event_messages(events: Iterable[Json], pattern: str, limit: int = 2) -> list[str]:
    return first_matching((str(e.get("message") or "") for e in events), pattern, limit)


# --- what the workloads look like -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One deployment of the store and what is wrong with its pods, if anything."""

    namespace: str
    name: str
    wanted: int
    pods: tuple[Json, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def workloads(obs: Observations) -> list[Workload]:
    return [Workload(ns, name(d), replicas_wanted(d), tuple(pods_of(obs, ns, name(d))))
            for ns in STORE_NAMESPACES for d in sorted(obs.deployments.get(ns, []), key=name)]


def worst_pod(pods: Sequence[Json]) -> Json | None:
    """The pod a responder looks at first: not scheduled, not started, restarting, not ready, then any."""
    def rank(p: Json) -> tuple[int, int, str]:
        if unschedulable(p):
            return 0, 0, name(p)
        if waiting_reason(p):
            return 1, -restarts(p), name(p)
        if restarts(p):
            return 2, -restarts(p), name(p)
        return (3 if not ready(p) else 4), 0, name(p)

    return min(pods, key=rank) if pods else None


def pod_state(pod: Json | None) -> str:
    """The pod state in the course's words (the vocabulary of edgelab.labs.vocab)."""
    if pod is None:
        return "NoPods"
    if unschedulable(pod):
        return "Pending"
    reason = waiting_reason(pod)
    if reason in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "ContainerCreating"):
        return reason
    if last_terminated_reason(pod) == "OOMKilled":
        return "OOMKilled"
    if reason:
        return reason
    return "Running" if ready(pod) else "NotReady"


# --- the rules: what I saw -> root cause -----------------------------------------------------------------------
# Each rule looks at one workload (and the rest of the store) and returns a Finding or None. RULES is tried in
# order for every workload; the first Finding wins. Evidence: the lines kubectl showed that prove it, quoted as
# printed (log lines and event messages first, then kubectl output rows), at most five.


Rule = Callable[[Observations, Workload], Finding | None]


def caller_lines(obs: Observations, ns: str, service: str) -> list[str]:
    """Other workloads' WARN/ERROR lines about this service (its cluster host name, or its name as a peer)."""
    host = f"{service}.{ns}"
    about = [line for _, _, line in all_warnings(obs) if host in line]
    about += [line for _, _, line in all_warnings(obs) if re.search(rf"(failed: |^|\s){re.escape(service)}(:| )",
                                                                     LEVEL.split(line)[-1]) and host not in line]
    unreachable = [line for line in about if re.search(r"unreachable|did not answer|refused by|no answer from|"
                                                       r"cannot resolve|dropped|failed", line)]
    return list(dict.fromkeys(unreachable))[:3]


def printed(obs: Observations, pattern: str, limit: int = 1) -> list[str]:
    return first_matching(obs.printed, pattern, limit)


def rule_scaled_to_zero(obs: Observations, w: Workload) -> Finding | None:
    """A deployment that wants 0 pods where its manifest wants some: nothing serves its Service."""
    dep = next(d for d in obs.deployments[w.namespace] if name(d) == w.name)
    manifest = manifest_replicas(dep)
    if w.wanted != 0 or not manifest or w.pods:
        return None
    svc = service_for(obs, w.namespace, w.name)
    callers = caller_lines(obs, w.namespace, name(svc)) if svc else []
    scaled = event_messages(events_about(obs, w.namespace, w.name), rf"scaled down replica set {w.name}-\S+.* to 0")
    evidence = [*callers, *scaled, *printed(obs, rf"^{re.escape(w.name)}\s+0/0\b")]
    return Finding(w.namespace, w.name, "NoPods", "dependency-down" if callers else "all-pods-down",
                   "scaled to zero", tuple(evidence[:5]),
                   fix=("scale", f"deployment/{w.name}", "-n", w.namespace, f"--replicas={manifest}"),
                   confirm=(("get", "deployment", w.name, "-n", w.namespace),
                            *((("get", "endpoints", name(svc), "-n", w.namespace),) if svc else ())))


def rule_pending(obs: Observations, w: Workload) -> Finding | None:
    """Pods the scheduler cannot place: its FailedScheduling event says why."""
    pending = [p for p in w.pods if unschedulable(p)]
    if not pending:
        return None
    events = events_on(obs, w.namespace, pending)
    if cpu := event_messages(events, r"Insufficient (cpu|memory)"):
        cause, shown = "insufficient-resources", cpu + printed(obs, r"^\s*cpu:?\s+\d+$")
    elif selector := event_messages(events, r"didn'?t match pod'?s node affinity/selector"):
        cause, shown = "node-selector-mismatch", selector + printed(obs, r"byteedge\.io/|node-selectors:")
    else:
        return None
    return Finding(w.namespace, w.name, "Pending", cause, "pending", tuple(shown[:5]),
                   confirm=(("get", "nodes", "--show-labels"),))


def rule_config_not_found(obs: Observations, w: Workload) -> Finding | None:
    """Pods stuck ContainerCreating because a ConfigMap they mount is gone."""
    stuck = [p for p in w.pods if waiting_reason(p) == "ContainerCreating"]
    if not stuck:
        return None
    shown = event_messages(events_on(obs, w.namespace, stuck), r'configmaps? "[^"]+" not found')
    if not shown:
        return None
    missing = re.search(r'configmaps? "([^"]+)" not found', shown[0])
    confirm = (("get", "configmap", missing.group(1), "-n", w.namespace),) if missing else ()
    return Finding(w.namespace, w.name, "ContainerCreating", "missing-configmap", "configmap not found", tuple(shown),
                   confirm=confirm)


def rule_image_pull(obs: Observations, w: Workload) -> Finding | None:
    """Pods that cannot pull their image: a missing pull secret, an unreachable registry, or a mistyped tag."""
    pulling = [p for p in w.pods if waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff")]
    if not pulling:
        return None
    pod = worst_pod(pulling)
    events = events_on(obs, w.namespace, pulling)
    image = str(((pod or {}).get("spec") or {}).get("containers", [{}])[0].get("image", ""))
    change = release_change(obs, w.namespace, w.name)
    old_image = str(change.get("image", ("", ""))[0] or "")
    secrets = [s.get("name") for s in ((pod or {}).get("spec") or {}).get("imagePullSecrets") or []]
    failed = event_messages(events, rf"Failed to pull image \"?{re.escape(image)}", 2)
    if secrets and obs.secrets.get(w.namespace) is not None and not set(secrets) <= set(obs.secrets[w.namespace]):
        cause = "missing-pull-credentials"
        shown = event_messages(events, r"image pull secrets?") + failed
    elif old_image and image.split("/")[0] != old_image.split("/")[0] and "." in image.split("/")[0]:
        cause = "registry-unreachable"  # the image now comes from another registry, which does not answer
        shown = failed + event_messages(events, r"lookup \S+")
    elif old_image and image.rsplit(":", 1)[0] == old_image.rsplit(":", 1)[0]:
        cause = "image-typo"  # same image, another tag: one that does not exist
        shown = failed
    else:
        return None
    return Finding(w.namespace, w.name, pod_state(pod), cause, "image pull", tuple(dict.fromkeys(shown))[:5],
                   confirm=(("get", "secrets", "-n", w.namespace),))


def rule_out_of_memory(obs: Observations, w: Workload) -> Finding | None:
    """Containers OOMKilled: a release that cut the memory limit, or a cache that grows without bound."""
    killed = [p for p in w.pods if last_terminated_reason(p) == "OOMKilled"]
    leak_lines = first_matching(lines_of(obs, w.namespace, w.name) + lines_of(obs, w.namespace, w.name, True),
                                r"cache: \d+ entries, [\d.]+ MiB, 0 evicted", 2)
    if not killed and not (leak_lines and growing(leak_lines)):
        return None
    change = release_change(obs, w.namespace, w.name)
    limits = [(r or {}).get("limits", {}).get("memory") for r in change.get("resources", (None, None))]
    shown_kubectl = printed(obs, r"\bOOMKilled\b") + printed(obs, r"exit code:?\s+137\b")
    if limits[0] != limits[1] and limits[1]:
        cause, shown = "memory-limit-too-low", shown_kubectl + printed(obs, rf"memory:?\s+{limits[1]}\b")
    else:
        cause, shown = "memory-leak", leak_lines + shown_kubectl
    pod = worst_pod(killed or list(w.pods))
    state = pod_state(pod) if pod is not None and pod_state(pod) in ("CrashLoopBackOff", "OOMKilled") else "OOMKilled"
    confirm = tuple(("get", "configmap", c, "-n", w.namespace, "-o", "yaml") for c in configmaps_of(w))
    return Finding(w.namespace, w.name, state, cause, "out of memory", tuple(shown[:5]), confirm=confirm)


def growing(lines: Sequence[str]) -> bool:
    counts = [int(m.group(1)) for line in lines if (m := re.search(r"cache: (\d+) entries", line))]
    return len(counts) >= 2 and counts[-1] > counts[0] or any(c >= 1000 for c in counts)


CRASH_CAUSES = (  # the previous container's last words -> root cause
    (r"required secret '?[\w.-]+'? missing", "missing-secret"),
    (r"required setting '?[\w.-]+'? missing", "missing-config-key"),
    (r"setting '?[\w.-]+'? must be one of", "application-bug"),
)


def rule_crash(obs: Observations, w: Workload) -> Finding | None:
    """Containers that exit at start: their previous logs say why."""
    crashing = [p for p in w.pods if restarts(p) and last_terminated_reason(p) not in ("OOMKilled", "")
                or waiting_reason(p) == "CrashLoopBackOff"]
    if not crashing:
        return None
    last_words = lines_of(obs, w.namespace, w.name, previous=True) + lines_of(obs, w.namespace, w.name)
    said = next(((first_matching(last_words, pattern, 1), cause) for pattern, cause in CRASH_CAUSES
                 if first_matching(last_words, pattern, 1)), None)
    if said is None:
        return None
    shown, cause = said
    shown += first_matching(last_words, r"cannot start: \d+ configuration problem", 1)
    pod = worst_pod(crashing)
    state = "CrashLoopBackOff" if pod_state(pod) == "CrashLoopBackOff" else "Error"
    fix: tuple[str, ...] = ()
    confirm: tuple[tuple[str, ...], ...] = ()
    if cause == "application-bug" and all(on_newest_revision(obs, w.namespace, w.name, p) for p in crashing):
        fix = ("rollout", "undo", f"deployment/{w.name}", "-n", w.namespace)  # only the new release crashes
    if cause == "missing-secret":
        confirm = (("get", "secrets", "-n", w.namespace),)
    if cause == "missing-config-key":
        confirm = tuple(("get", "configmap", c, "-n", w.namespace, "-o", "yaml") for c in configmaps_of(w))
    return Finding(w.namespace, w.name, state, cause, "crash at start", tuple(shown), fix=fix, confirm=confirm)


def rule_bad_rollout(obs: Observations, w: Workload) -> Finding | None:
    """A new release whose pods never become Ready while the old ones still serve: roll it back."""
    new = [p for p in w.pods if on_newest_revision(obs, w.namespace, w.name, p)]
    old = [p for p in w.pods if p not in new]
    change = release_change(obs, w.namespace, w.name)
    if not new or any(ready(p) for p in new) or not old or not ({"image", "env"} & set(change)):
        return None
    if any(waiting_reason(p) or restarts(p) for p in new):
        return None  # not started or crashing: other rules
    own = [line for p in new for line in obs.logs.get(f"{w.namespace}/{name(p)}", []) if LEVEL.search(line)]
    shown = first_matching(own, r"cannot resolve host|is unreachable|still unreachable|did not answer", 2)
    if not shown:
        return None
    shown += printed(obs, rf"^{re.escape(w.name)}-\S+\s+0/1\s+Running")
    return Finding(w.namespace, w.name, "NotReady", "bad-rollout", "new release never ready", tuple(shown),
                   fix=("rollout", "undo", f"deployment/{w.name}", "-n", w.namespace))


def rule_cpu(obs: Observations, w: Workload) -> Finding | None:
    """Pods held at their CPU limit: a loop that never rests, or a limit cut too low by a release."""
    top = obs.top.get(w.namespace, {})
    # the pod list and `top` are read moments apart: a pod the list shows still being created has no CPU figure
    # of its own yet, whatever `top` printed since; it is judged on the next look
    started = [p for p in w.pods if not waiting_reason(p)]
    busy = [p for p in started if cpu_limit(p) and name(p) in top and top[name(p)][0] >= CPU_AT_LIMIT * cpu_limit(p)]
    change = release_change(obs, w.namespace, w.name)
    limits = [(r or {}).get("limits", {}).get("cpu") for r in change.get("resources", (None, None))]
    cut = bool(limits[1] and limits[0] != limits[1] and cpu_millis(limits[1]) < cpu_millis(limits[0] or "0"))
    if not busy and cut:
        # a host short of CPU can hold a pod below even a cut limit; what the course reads then is the cut
        # itself and its cost on the pods that carry it: `top` near the new limit, or probes that time out
        held = [p for p in started if name(p) in top and cpu_limit(p) == cpu_millis(limits[1] or "0")]
        starved = event_messages(events_on(obs, w.namespace, held), r"probe failed|Client\.Timeout|timeout")
        busy = [p for p in held if top[name(p)][0] >= CPU_NEAR_CUT_LIMIT * cpu_limit(p)] or (held if starved else [])
    if not busy:
        return None
    pod = worst_pod(busy)
    loop = first_matching(lines_of(obs, w.namespace, w.name), r"(recalculated|recompiled) \d{3,} times", 2)
    top_rows = printed(obs, rf"^{re.escape(name(pod or {}))}\s+\d+m\b")
    if loop:
        return Finding(w.namespace, w.name, "Running", "infinite-loop", "cpu loop", tuple(loop + top_rows),
                       confirm=tuple(("get", "configmap", c, "-n", w.namespace, "-o", "yaml") for c in configmaps_of(w)))
    if cut:
        shown = printed(obs, rf"^\s*cpu:?\s+{limits[1]}$") + top_rows
        return Finding(w.namespace, w.name, pod_state(pod), "cpu-limit-too-low", "cpu limit cut", tuple(shown[:5]))
    return None


def rule_waiting_for_connections(obs: Observations, w: Workload) -> Finding | None:
    """Requests queue for one of too few database connections."""
    own = lines_of(obs, w.namespace, w.name)
    shown = first_matching(own, r"waited \d+ ms for a connection|waiting for a database connection", 2)
    if len(shown) < 1 or not any(ready(p) for p in w.pods):
        return None
    return Finding(w.namespace, w.name, "Running", "db-pool-exhausted", "database pool", tuple(shown),
                   confirm=tuple(("get", "configmap", c, "-n", w.namespace, "-o", "yaml") for c in configmaps_of(w)))


def rule_unreachable_dependency(obs: Observations, w: Workload) -> Finding | None:
    """Not Ready because a dependency does not answer: follow the host in the logs to its service.

    The service runs with endpoints but not on the port asked -> this workload's configuration is wrong;
    the service has no endpoints while its pods are Ready -> its selector; its pods are fine and answer
    inside their namespace -> a NetworkPolicy there refuses the callers.
    """
    if not w.pods or all(ready(p) for p in w.pods):
        return None
    own = [line for p in w.pods for line in obs.logs.get(f"{w.namespace}/{name(p)}", []) if LEVEL.search(line)]
    for line in own:
        if not re.search(r"unreachable|did not answer|refused by|no answer from|reset by", line):
            continue
        for m in HOST.finditer(line):
            service, ns, port = m.group(1), m.group(2), m.group(3)
            svc = next((s for s in obs.services.get(ns, []) if name(s) == service), None)
            if svc is None or ns not in STORE_NAMESPACES:
                continue
            if port and int(port) not in service_ports(svc) and ready_addresses(obs, ns, service):
                wrong = [x for x in own if f":{port}" in x and re.search(r"unreachable|refused by|timed out", x)]
                return Finding(w.namespace, w.name, "NotReady", "bad-config-change", "wrong port", tuple(wrong[:2]),
                               confirm=tuple(("get", "configmap", c, "-n", w.namespace, "-o", "yaml")
                                             for c in configmaps_of(w)))
    return None


def rule_service_selector(obs: Observations, w: Workload) -> Finding | None:
    """Pods Running and Ready, yet their Service has no endpoints: its selector matches no pod."""
    if not w.pods or not all(ready(p) for p in w.pods):
        return None
    svc = service_for(obs, w.namespace, w.name)
    if svc is None or ready_addresses(obs, w.namespace, name(svc)):
        return None
    selector = (svc.get("spec") or {}).get("selector") or {}
    labels = ((w.pods[0].get("metadata") or {}).get("labels") or {})
    if all(labels.get(k) == v for k, v in selector.items()):
        return None
    shown = caller_lines(obs, w.namespace, name(svc)) + printed(obs, r"^Selector:\s+\S*app=")
    return Finding(w.namespace, w.name, "Running", "selector-mismatch", "selector", tuple(shown[:5]),
                   confirm=(("describe", "service", name(svc), "-n", w.namespace),
                            ("get", "pods", "-n", w.namespace, "--show-labels")))


def rule_network_policy(obs: Observations, w: Workload) -> Finding | None:
    """Pods Ready with endpoints, callers elsewhere cannot reach them, and a NetworkPolicy admits only neighbours."""
    if not w.pods or not all(ready(p) for p in w.pods):
        return None
    svc = service_for(obs, w.namespace, w.name)
    if svc is None or not ready_addresses(obs, w.namespace, name(svc)):
        return None
    callers = caller_lines(obs, w.namespace, name(svc))
    policies = obs.network_policies.get(w.namespace) or []
    if not callers or not policies:
        return None
    shown = callers + printed(obs, rf"^{re.escape(policies[0])}\s")
    return Finding(w.namespace, w.name, "Running", "network-policy", "network policy", tuple(shown[:5]),
                   confirm=(("get", "endpoints", name(svc), "-n", w.namespace),
                            ("get", "networkpolicy", "-n", w.namespace)))


def rule_node_down(obs: Observations, w: Workload) -> Finding | None:
    """A node NotReady: the pods that ran on it are lost or Terminating."""
    down = [name(n) for n in obs.nodes if not any(c.get("type") == "Ready" and c.get("status") == "True"
                                                  for c in (n.get("status") or {}).get("conditions") or [])]
    hit = [p for p in w.pods if (p.get("spec") or {}).get("nodeName") in down] + [
        p for p in obs.pods.get(w.namespace, []) if workload_of(name(p), obs.deployments.get(w.namespace, [])) == w.name
        and (p.get("metadata") or {}).get("deletionTimestamp") and (p.get("spec") or {}).get("nodeName") in down]
    if not down or not hit:
        return None
    node = str((hit[0].get("spec") or {}).get("nodeName"))
    shown = printed(obs, rf"^{re.escape(node)}\s+NotReady") + printed(obs, r"Kubelet stopped posting node status")
    return Finding(w.namespace, w.name, "NotReady", "node-failure", "node down", tuple(shown), node=node,
                   confirm=(("describe", "node", node),))


def configmaps_of(w: Workload) -> list[str]:
    pod = worst_pod(list(w.pods))
    volumes = ((pod or {}).get("spec") or {}).get("volumes") or []
    return sorted({str(v["configMap"]["name"]) for v in volumes if v.get("configMap")})


# The table, in the order a responder rules things out: the box, nothing running at all, pods that cannot be
# placed or started, pods that die, a release that never gets ready, then the slow and the unreachable.
RULES: tuple[tuple[str, Rule], ...] = (
    ("a node is NotReady and the workload's pods were on it -> node-failure", rule_node_down),
    ("deployment at 0 replicas, its manifest wants some -> all-pods-down / dependency-down", rule_scaled_to_zero),
    ("Pending, FailedScheduling 'Insufficient cpu' -> insufficient-resources; 'node affinity/selector' -> "
     "node-selector-mismatch", rule_pending),
    ("ContainerCreating, FailedMount 'configmap ... not found' -> missing-configmap", rule_config_not_found),
    ("ErrImagePull / ImagePullBackOff: pull secret absent -> missing-pull-credentials; new registry -> "
     "registry-unreachable; same image, new tag -> image-typo", rule_image_pull),
    ("OOMKilled: the release cut the memory limit -> memory-limit-too-low; a cache that never evicts -> memory-leak",
     rule_out_of_memory),
    ("CrashLoopBackOff: previous logs 'required secret' -> missing-secret; 'required setting' -> missing-config-key; "
     "'must be one of' in a new release -> application-bug (rollback)", rule_crash),
    ("new release's pods Running but never Ready, old ones serve -> bad-rollout (rollback)", rule_bad_rollout),
    ("top at the CPU limit: logs count work repeated back to back -> infinite-loop; the release cut the limit -> "
     "cpu-limit-too-low", rule_cpu),
    ("logs 'waited N ms for a connection' -> db-pool-exhausted", rule_waiting_for_connections),
    ("not Ready, logs: dependency unreachable on a port its Service does not have -> bad-config-change",
     rule_unreachable_dependency),
    ("Ready pods, Service without endpoints, selector matches no pod -> selector-mismatch", rule_service_selector),
    ("Ready pods with endpoints, callers elsewhere cut off, a NetworkPolicy in the namespace -> network-policy",
     rule_network_policy),
)


def classify(obs: Observations) -> Finding | None:
    """The first rule that matches a workload (rules in table order, workloads in store order)."""
    found = workloads(obs)
    for _, rule in RULES:
        for w in found:
            finding = rule(obs, w)
            if finding is not None:
                return finding
    return None


def trails(obs: Observations) -> list[tuple[str, str]]:
    """(namespace, service) named by the store's WARN/ERROR lines about something unreachable, in store order."""
    out: list[tuple[str, str]] = []
    for _, _, line in all_warnings(obs):
        if not re.search(r"unreachable|did not answer|refused by|no answer from|reset by|timed out", line):
            continue
        for m in HOST.finditer(line):
            key = (m.group(2), m.group(1))
            if key[0] in STORE_NAMESPACES and key not in out:
                out.append(key)
    return sorted(out, key=lambda k: (STORE_NAMESPACES.index(k[0]), k[1]))


def parse_top(text: str) -> dict[str, tuple[int, int]]:
    """`kubectl top pods --no-headers` -> pod -> (CPU millicores, memory MiB)."""
    out = {}
    for row in text.splitlines():
        parts = row.split()
        if len(parts) >= 3 and parts[1].endswith("m") and parts[2].endswith("Mi"):
            out[parts[0]] = (int(parts[1][:-1]), int(parts[2][:-2]))
    return out


def parse_log(text: str, since: datetime | None) -> list[str]:
    """`kubectl logs --timestamps` -> the lines logged at or after `since` (all when None), kubelet stamp removed."""
    out = []
    for raw in text.splitlines():
        m = KUBELET_TS.match(raw)
        if m:
            at = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
            if since is not None and at < since.replace(microsecond=0):
                continue
            raw = raw[m.end():]
        if raw.strip():
            out.append(raw.rstrip())
    return out


# --- the course's steps, as requests ----------------------------------------------------------------------------


class Responder:
    def __init__(self, kubectl: Kubectl, obs: Observations) -> None:
        self.k, self.obs = kubectl, obs

    def show(self, *args: str, wait: int = 60) -> list[str]:
        """A command whose text output a learner reads; its lines are kept (kubectl-form evidence)."""
        code, out = self.k.run(*args, wait=wait)
        lines = out.splitlines()
        for line in lines:
            if line.strip() and line.strip() not in self.obs.printed:
                self.obs.printed.append(line.strip())
        return lines if code == 0 else []

    def check_cluster(self) -> None:
        self.obs.nodes = self.k.items("get", "nodes")
        self.show("get", "nodes")

    def list_pods(self, ns: str) -> None:
        self.obs.pods[ns] = self.k.items("get", "pods", "-n", ns)
        self.obs.deployments[ns] = self.k.items("get", "deployments", "-n", ns)
        self.show("get", "deployments", "-n", ns)

    def previous_logs(self, ns: str) -> None:
        for pod in self.obs.pods[ns]:
            if restarts(pod):
                code, out = self.k.run("logs", name(pod), "-n", ns, "--previous", "--timestamps", "--tail=200")
                self.obs.previous_logs[f"{ns}/{name(pod)}"] = parse_log(out, None) if code == 0 else []

    def endpoints(self, ns: str) -> None:
        self.obs.services[ns] = self.k.items("get", "services", "-n", ns)
        self.obs.endpoints[ns] = self.k.items("get", "endpoints", "-n", ns)

    def events(self, ns: str) -> None:
        self.obs.events[ns] = self.k.items("get", "events", "-n", ns, "--sort-by=.lastTimestamp")

    def describe_unhealthy(self, ns: str) -> None:
        by_workload: dict[str, list[Json]] = {}
        for pod in self.obs.pods[ns]:
            if not ready(pod) or restarts(pod):
                by_workload.setdefault(workload_of(name(pod), self.obs.deployments[ns]), []).append(pod)
        for pods in by_workload.values():
            if (worst := worst_pod(pods)) is not None:
                self.show("describe", "pod", name(worst), "-n", ns)

    def top(self, ns: str) -> None:
        self.obs.top[ns] = parse_top("\n".join(self.show("top", "pods", "-n", ns, "--no-headers")))

    def logs(self, ns: str) -> None:
        """Each workload's logs since the agent started: every pod that is not Ready, else one pod."""
        for dep in sorted(self.obs.deployments[ns], key=name):
            pods = sorted((p for p in pods_of(self.obs, ns, name(dep)) if statuses(p)
                           and (p.get("status") or {}).get("phase") == "Running"), key=name)
            for pod in [p for p in pods if not ready(p)] or pods[:1]:
                code, out = self.k.run("logs", name(pod), "-n", ns, "--timestamps", "--tail=300")
                self.obs.logs[f"{ns}/{name(pod)}"] = parse_log(out, self.obs.since) if code == 0 else []

    def rollout_history(self, ns: str) -> None:
        self.obs.replicasets[ns] = self.k.items("get", "replicasets", "-n", ns)

    def survey(self) -> None:
        """Step 1, in the course's order, every store namespace."""
        self.check_cluster()
        for ns in STORE_NAMESPACES:
            self.list_pods(ns)
        for ns in STORE_NAMESPACES:
            self.previous_logs(ns)
        for ns in STORE_NAMESPACES:
            self.endpoints(ns)
            self.events(ns)
        for ns in STORE_NAMESPACES:
            self.describe_unhealthy(ns)
        for ns in STORE_NAMESPACES:
            self.top(ns)
        for ns in STORE_NAMESPACES:
            self.logs(ns)
            self.rollout_history(ns)

    def follow(self) -> None:
        """Step 2: every service the logs say cannot be reached, checked where it lives."""
        for ns, service in trails(self.obs):
            self.show("get", "endpoints", service, "-n", ns)
            workload = workload_behind(self.obs, ns, service)
            if workload:
                self.show("get", "deployment", workload, "-n", ns)
            self.obs.network_policies[ns] = [line.split()[0] for line in
                                             self.show("get", "networkpolicy", "-n", ns, "--no-headers")]
            if workload and not self.obs.network_policies[ns]:
                self.show("describe", "service", service, "-n", ns)
        for ns in STORE_NAMESPACES:  # pull secrets named by pods that cannot pull
            if any(waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff") and (p.get("spec") or {}).get(
                    "imagePullSecrets") for p in self.obs.pods[ns]):
                self.obs.secrets[ns] = [name(s) for s in self.k.items("get", "secrets", "-n", ns)]

    def confirm(self, finding: Finding) -> None:
        """Step 4: the course's look at the workload found, then what its rule names."""
        ns, workload = finding.namespace, finding.workload
        pod = worst_pod(pods_of(self.obs, ns, workload))
        if pod is not None:
            self.show("describe", "pod", name(pod), "-n", ns)
            if restarts(pod):
                self.k.run("logs", name(pod), "-n", ns, "--previous", "--tail=50")
            if statuses(pod) and (pod.get("status") or {}).get("phase") == "Running":
                self.k.run("logs", name(pod), "-n", ns, "--tail=50")
        self.show("get", "deployment", workload, "-n", ns)
        self.show("rollout", "history", f"deployment/{workload}", "-n", ns)
        for args in finding.confirm:
            self.show(*args)

    def fix(self, finding: Finding) -> None:
        """Step 5: the course's remediation, then wait for the rollout it starts."""
        if not finding.fix:
            return
        log(f"the evidence calls for the course's fix: kubectl {' '.join(finding.fix)}")
        self.show(*finding.fix)
        self.show("rollout", "status", f"deployment/{finding.workload}", "-n", finding.namespace, "--timeout=150s",
                  wait=170)


def investigate(k: Kubectl, deadline: float, now: Callable[[], float] = time.monotonic) -> Finding | None:
    obs = Observations()
    responder = Responder(k, obs)
    while True:
        responder.survey()
        responder.follow()
        finding = classify(obs)
        if finding is not None:
            log(f"rule '{finding.rule}' matches {finding.namespace}/{finding.workload}")
            responder.confirm(finding)
            finding = classify(obs) or finding  # the confirming output may add kubectl lines as evidence
            responder.fix(finding)
            return finding
        if now() + POLL_SECONDS > deadline:
            log("no rule matched what the store shows; giving up")
            return None
        log(f"nothing conclusive yet; looking again in {POLL_SECONDS} s")
        time.sleep(POLL_SECONDS)


def budget(env: Mapping[str, str]) -> float:
    limit = env.get("EDGELAB_TIME_LIMIT", "").strip()
    try:
        return max(30.0, float(limit) - 45) if limit else DEFAULT_BUDGET
    except ValueError:
        return DEFAULT_BUDGET


def main() -> int:
    ticket = os.environ.get("EDGELAB_TICKET", "")
    log("ticket (read, not parsed: the store decides): " + " ".join(ticket.split())[:200])
    finding = investigate(Kubectl(), time.monotonic() + budget(os.environ))
    if finding is None:
        return 1
    text = finding.as_yaml()
    if path := os.environ.get("EDGELAB_FINDINGS"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
