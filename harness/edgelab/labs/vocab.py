"""The answer vocabularies and templates, in one place: labs are checked against them, attempts fill the
templates, and grading normalises the learner's answers with them.

Root causes and pod states each have a canonical value and synonyms, matched
case-, space- and punctuation-blind. Templates are lab strings with `{name}`
variables filled per attempt (`re:` marks an evidence entry that is a regular
expression).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# --- answer vocabularies: canonical value -> synonyms (matched case-, space- and punctuation-blind) ----------

ROOT_CAUSES: dict[str, tuple[str, ...]] = {
    # CrashLoopBackOff (course issue 1)
    "application-bug": ("app bug", "code bug", "application code bug", "software bug", "bug", "bad release",
                        "broken release", "bad version", "crash on start", "invalid log level"),
    "missing-configmap": ("configmap missing", "configmap deleted", "deleted configmap", "no configmap",
                          "missing config map", "config map deleted"),
    "missing-config-key": ("missing configmap key", "configmap key missing", "missing config key",
                           "missing configuration key", "missing setting", "required setting missing",
                           "key removed from configmap"),
    "missing-secret": ("secret missing", "missing secret key", "secret key missing", "secret key removed"),
    "dependency-down": ("dependency unavailable", "downstream service down", "downstream down", "upstream down",
                        "database down", "database unavailable", "database connection failure", "db down"),
    # ImagePullBackOff (issue 2)
    "registry-unreachable": ("registry down", "registry unavailable", "container registry down", "internet outage",
                             "network outage", "edge network outage", "no internet", "cannot reach registry"),
    "image-typo": ("image tag typo", "typo in image tag", "typo in image name", "image name typo", "wrong image tag",
                   "bad image tag", "wrong tag", "image not found", "image does not exist"),
    "missing-pull-credentials": ("missing pull secret", "missing image pull secret", "image pull secret missing",
                                 "missing registry credentials", "no pull credentials",
                                 "missing credentials for private registry"),
    # Service unreachable (issue 3)
    "all-pods-down": ("all pods crashed", "no pods running", "scaled to zero", "zero replicas", "scaled down"),
    "selector-mismatch": ("service selector mismatch", "selector does not match pod labels", "label mismatch",
                          "wrong selector", "selector doesn't match labels"),
    "network-policy": ("networkpolicy", "network policy blocking traffic", "blocked by network policy",
                       "networkpolicy blocking traffic"),
    # High CPU/Memory (issue 4)
    "memory-leak": ("leak", "unbounded cache", "cache grows without limit"),
    "infinite-loop": ("busy loop", "cpu hog", "runaway loop", "tight loop", "endless loop"),
    "high-load": ("high traffic", "high load", "traffic spike", "too much traffic"),
    "memory-limit-too-low": ("memory limit too low", "low memory limit", "memory limits too low"),
    "cpu-limit-too-low": ("cpu limit too low", "low cpu limit", "cpu throttling", "throttled", "cpu limits too low"),
    # Pending, hardware, releases, configuration
    "insufficient-resources": ("insufficient cpu", "not enough cpu", "insufficient resources", "requests too high",
                               "cpu requests too high", "resource requests too high", "impossible requests"),
    "node-selector-mismatch": ("node selector", "nodeselector", "node affinity", "no matching node",
                               "node selector matches no node"),
    "node-failure": ("node down", "node notready", "node not ready", "hardware failure", "store hardware failure",
                     "server failure", "node failed", "kubelet stopped"),
    "bad-rollout": ("failed rollout", "bad deployment", "bad deploy", "rollout stuck", "new version never ready"),
    "bad-config-change": ("configuration change", "bad configuration", "config change", "bad config value",
                          "wrong config value", "misconfiguration", "wrong port"),
    "db-pool-exhausted": ("connection pool exhausted", "db pool too small", "database pool too small",
                          "pool exhaustion", "pool size too small", "database connection pool"),
}

POD_STATES: dict[str, tuple[str, ...]] = {
    "Running": ("running", "up"),
    "NotReady": ("not ready", "unready", "running but not ready", "running not ready", "0/1", "0/1 ready"),
    "CrashLoopBackOff": ("crashloop", "crash loop", "crash loop back off", "crash looping", "crashing"),
    "Error": ("error",),
    "ErrImagePull": ("err image pull", "image pull error"),
    "ImagePullBackOff": ("image pull back off", "image pull backoff"),
    "ContainerCreating": ("container creating", "creating", "stuck creating"),
    "Pending": ("unschedulable", "not scheduled"),
    "OOMKilled": ("oom killed", "oom", "out of memory"),
    "Terminating": ("terminated",),
    "Unknown": (),
    "NoPods": ("no pods", "no pod", "none", "0 pods", "zero pods", "0/0"),
}


def causes_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def states_key(text: str) -> str:
    return re.sub(r"[^a-z0-9/]+", "", text.lower())


def _lookup(vocab: Mapping[str, tuple[str, ...]], key: Any) -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, synonyms in vocab.items():
        for word in (canonical, *synonyms):
            k = key(word)
            if table.setdefault(k, canonical) != canonical:
                raise ValueError(f"vocabulary: {word!r} means both {table[k]} and {canonical}")
    return table


CAUSE_LOOKUP = _lookup(ROOT_CAUSES, causes_key)
STATE_LOOKUP = _lookup(POD_STATES, states_key)


def root_cause(text: str) -> str | None:
    """The canonical root cause `text` names (a canonical value or a synonym), else None."""
    return CAUSE_LOOKUP.get(causes_key(text))


def pod_state(text: str) -> str | None:
    """The canonical pod state `text` names ("crash loop back off" -> CrashLoopBackOff), else None."""
    return STATE_LOOKUP.get(states_key(text))


# --- templates -----------------------------------------------------------------------------------------------

VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")  # `\d{3}` and `{2,5}` in regexes are not variables
REGEX_PREFIX = "re:"


def variables(text: str) -> set[str]:
    return set(VARIABLE.findall(text))


def fill(text: str, values: Mapping[str, str], *, regex: bool = False) -> str:
    """Replace each `{name}`; inside a regex the values are escaped (a dot in a host name is a dot)."""
    return VARIABLE.sub(lambda m: re.escape(values[m[1]]) if regex else values[m[1]], text)


def evidence_pattern(entry: str, values: Mapping[str, str]) -> re.Pattern[str]:
    """An evidence entry as a pattern: `re:<regex>`, or a plain text matched as a substring (case-blind)."""
    if entry.startswith(REGEX_PREFIX):
        return re.compile(fill(entry[len(REGEX_PREFIX):], values, regex=True), re.IGNORECASE)
    return re.compile(re.escape(normalise_text(fill(entry, values))), re.IGNORECASE)


_QUOTES = str.maketrans("\u2018\u2019\u201c\u201d`", "''\"\"'")


def normalise_text(text: str) -> str:
    """Whitespace collapsed and typographic quotes made plain: how evidence is compared."""
    return " ".join(text.translate(_QUOTES).split())
