"""Node agent: a store box fails for as long as its Fault exists.

Runs privileged with the host PID namespace on the chosen node (engine.start_agent):
stops the node's kubelet (the node goes NotReady, its pods move after their
toleration), then watches the Fault; once the Fault is being deleted, or gone,
starts the kubelet again and exits. It asks the API server directly, so the
node comes back even when the operator is down, and it starts the kubelet
again when it is told to stop (its pod deleted, SIGTERM): an agent never
leaves its node down behind it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
from typing import Any

from kubernetes import client, config

from . import GROUP, PLURAL, VERSION

log = logging.getLogger("edgelab.agent")
HOST = ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"]


def kubelet(action: str) -> None:
    proc = subprocess.run([*HOST, "systemctl", action, "kubelet"], capture_output=True, text=True, check=False)
    log.info("systemctl %s kubelet: rc=%s %s", action, proc.returncode, proc.stderr.strip())
    if proc.returncode != 0:
        raise SystemExit(f"cannot {action} the kubelet: {proc.stderr.strip()}")


def fault_active(api: client.CustomObjectsApi, namespace: str, name: str, uid: str) -> bool:
    try:
        obj: Any = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise
    meta = obj["metadata"]
    return meta.get("uid") == uid and not meta.get("deletionTimestamp")


def _stopped(signum: int, frame: Any) -> None:
    log.info("told to stop: starting the kubelet again")
    kubelet("start")
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--fault", required=True)
    parser.add_argument("--uid", required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    config.load_incluster_config()
    api = client.CustomObjectsApi()
    if not fault_active(api, args.namespace, args.fault, args.uid):
        log.info("fault already gone; nothing to do")
        return 0
    signal.signal(signal.SIGTERM, _stopped)
    kubelet("stop")
    errors = 0
    while True:
        time.sleep(args.interval)
        try:
            if not fault_active(api, args.namespace, args.fault, args.uid):
                break
            errors = 0
        except Exception as e:  # the API may blip; give up after ~2 minutes of errors
            errors += 1
            log.warning("cannot read the fault: %s", e)
            if errors > 60:
                break
    kubelet("start")
    return 0


if __name__ == "__main__":
    sys.exit(main())
