"""edgelab's fault operator (kopf): Fault custom resources in, exact reverts out.

The names of the Fault resource live here, once: the operator, its node agent and
the harness's client (`edgelab.faults`) import them; manifests/operator/crd.yaml
declares the same (a unit test keeps them equal).
"""

GROUP, VERSION, PLURAL = "edgelab.io", "v1alpha1", "faults"
FINALIZER = "edgelab.io/revert"  # held by every Fault until its changes are reverted
# The operator, the Faults and the node agents live here. Learners can list its pods (`get pods -A`), so it
# is named and labelled like the fleet tooling a real store runs (docs/faults.md, "What the learner sees").
NAMESPACE = "byteedge-fleet"
