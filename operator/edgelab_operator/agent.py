"""Node agent: a store box fails for as long as a Fault says so.

Runs on every node of the store as a DaemonSet (`node-agent`, privileged, host
PID namespace), like the node agents real stores run, so nothing new appears
when a box fails. Every few seconds it reads the Faults: while one that is not
being deleted names this node (`status.node`), the node's kubelet is stopped
(the node goes NotReady, its pods move after their toleration); once none
does, the kubelet is started again. It asks the API server directly, so the
node comes back even when the operator is down; and it starts the kubelet
again whenever it stops (SIGTERM) or fails, or cannot read the Faults for two
minutes: an agent never leaves its node down behind it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from kubernetes import client, config

from . import GROUP, NAMESPACE, PLURAL, VERSION

log = logging.getLogger("edgelab.agent")
HOST = ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"]
DOWN_PHASES = ("Applying", "Active")
GIVE_UP_AFTER = 60  # reads in a row that failed (about two minutes) before the node is brought back anyway


def kubelet(action: str) -> bool:
    proc = subprocess.run([*HOST, "systemctl", action, "kubelet"], capture_output=True, text=True, check=False)
    log.info("systemctl %s kubelet: rc=%s %s", action, proc.returncode, proc.stderr.strip())
    return proc.returncode == 0


def wanted_down(faults: list[dict[str, Any]], node: str) -> bool:
    """Does a live Fault hold this node down? (Pure: the Faults as the API lists them.)"""
    for f in faults:
        st = f.get("status") or {}
        if st.get("node") == node and st.get("phase") in DOWN_PHASES and not f["metadata"].get("deletionTimestamp"):
            return True
    return False


class Agent:
    def __init__(self, api: client.CustomObjectsApi, namespace: str, node: str) -> None:
        self.api, self.namespace, self.node = api, namespace, node
        self.stopped = False
        self.errors = 0

    def step(self) -> None:
        try:
            raw: Any = self.api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
            down = wanted_down(raw["items"], self.node)
            self.errors = 0
        except Exception as e:  # the API may blip; a node is never left down for long on that account
            self.errors += 1
            log.warning("cannot read the faults: %s", e)
            down = self.stopped and self.errors <= GIVE_UP_AFTER
        if down and not self.stopped:
            self.stopped = kubelet("stop")
        elif not down and self.stopped:
            self.stopped = not kubelet("start")

    def release(self) -> None:
        if self.stopped:
            log.info("leaving: starting the kubelet again")
            self.stopped = not kubelet("start")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    config.load_incluster_config()
    agent = Agent(client.CustomObjectsApi(), os.environ.get("POD_NAMESPACE", NAMESPACE), os.environ["NODE_NAME"])

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            agent.step()
            time.sleep(2)
    finally:
        agent.release()


if __name__ == "__main__":
    sys.exit(main())
