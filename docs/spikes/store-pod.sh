#!/bin/bash
# Spike 26, shape B: a whole store (kind on a Docker engine) inside one privileged pod of a host cluster.
# usage: store-pod.sh image        -> build edgelab/store-engine:spike3 (node image + dockerd + docker CLI + kind)
#        store-pod.sh host         -> host cluster spike3 (1 node) + the engine image loaded into it
#        store-pod.sh pod          -> namespace, audit-policy ConfigMap, the engine pod, its NodePort Service
#        store-pod.sh nodeimage    -> docker save node image | kubectl exec -i POD docker load
#        store-pod.sh inner        -> kind create cluster inside the pod (config from edgelab's own kind_config)
#        store-pod.sh cni          -> kube-router (manifests/addons/kube-router.yaml) inside
#        store-pod.sh kubeconfig   -> inner admin kubeconfig pointing at the host node's NodePort
#        store-pod.sh storeimages  -> the store's 12 image names: host docker save | pod docker load, then kind load inside
#        store-pod.sh workloads    -> the store's 24 objects (store 4523) applied from this machine through the NodePort
#        store-pod.sh stopnode     -> docker stop inner-worker inside the pod, wait NotReady, docker start, wait Ready
#        store-pod.sh down         -> delete the inner cluster, the pod, the host cluster and the image
# CGROUPFS=1 (the default) puts the nested kubelets and containerd on cgroupfs; CGROUPFS=0 keeps kind's systemd
# driver, with which the inner worker's kubelet failed to start here (see store-in-pod.md).
# It is a spike's script, kept to repeat the measurements, not part of edgelab. Run as root on a machine set up by
# `edgelab setup`; order: image host pod nodeimage inner cni kubeconfig storeimages workloads stopnode down.
set -euo pipefail
REPO=${REPO:-/work/main}
W=${W:-/tmp/spike3}                       # work folder: image context, configs, logs
KIND=${KIND:-$(cd $REPO && .venv/bin/python -c 'from edgelab.machine.prepare import setup; print(setup().kind)')}
KUBECTL=${KUBECTL:-$(cd $REPO && .venv/bin/python -c 'from edgelab.machine.prepare import setup; print(setup().kubectl)')}
export KUBECONFIG=${KUBECONFIG:-$HOME/.local/state/edgelab/clusters/spike3/kubeconfig}
NODE_IMG=edgelab/kind-node:v1.34.4
ENGINE_IMG=edgelab/store-engine:spike3
NS=spike3 POD=spike3-store
k() { "$KUBECTL" "$@"; }
kx() { k -n $NS exec -i $POD -- "$@"; }           # a command in the engine pod
ts() { date +%s.%N; }
took() { echo "$1: $(echo "$(ts)-$2" | bc) s"; }

image() {  # the context: the host's Debian docker.io dockerd/docker-proxy/tini, the static docker CLI, kind
  local t0; t0=$(ts); mkdir -p $W/img; cd $W/img
  cp /usr/sbin/dockerd /usr/sbin/docker-proxy /usr/local/bin/docker "$KIND" .; cp -L /usr/bin/docker-init .
  cat > daemon.json <<'EOF'
{
  "runtimes": {"edgelab-runc": {"path": "/usr/local/bin/edgelab-runc"}},
  "default-runtime": "edgelab-runc",
  "storage-driver": "overlay2",
  "default-address-pools": [{"base": "10.250.0.0/16", "size": 24}]
}
EOF
  cat > start-dockerd <<'EOF'
#!/bin/sh
# PID 1 of the store pod: a Docker engine, nothing else (no systemd).
set -e
mkdir -p /var/lib/docker /run
rm -f /var/run/docker.pid /run/docker/containerd/containerd.pid
exec dockerd --config-file /etc/docker/daemon.json
EOF
  chmod +x start-dockerd
  cat > Dockerfile <<EOF
FROM $NODE_IMG
COPY dockerd docker-proxy docker-init start-dockerd /usr/local/sbin/
COPY docker kind /usr/local/bin/
COPY daemon.json /etc/docker/daemon.json
ENTRYPOINT ["/usr/local/sbin/start-dockerd"]
CMD []
STOPSIGNAL SIGTERM
EOF
  DOCKER_BUILDKIT=0 docker build -q -t $ENGINE_IMG .
  took "engine image" $t0
}

host() {
  local t0; t0=$(ts)
  (cd $REPO && .venv/bin/edgelab cluster up --name spike3 --nodes 1)
  took "host cluster up" $t0; t0=$(ts)
  "$KIND" load docker-image $ENGINE_IMG --name spike3
  took "engine image loaded into the host" $t0
}

pod() {
  local t0; t0=$(ts)
  k create ns $NS --dry-run=client -o yaml | k apply -f -
  k -n $NS create configmap audit-policy --from-file=policy.yaml=$REPO/manifests/audit/policy.yaml \
    --dry-run=client -o yaml | k apply -f -
  k apply -f - <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: spike3-store
  namespace: spike3
  labels: {app: spike3-store}
spec:
  hostname: spike3-store
  enableServiceLinks: false
  terminationGracePeriodSeconds: 30
  tolerations: [{operator: Exists}]
  containers:
  - name: engine
    image: edgelab/store-engine:spike3
    imagePullPolicy: Never
    securityContext: {privileged: true}
    readinessProbe:
      exec: {command: [docker, version]}
      periodSeconds: 2
    volumeMounts:
    - {name: docker, mountPath: /var/lib/docker}
    - {name: modules, mountPath: /lib/modules, readOnly: true}
    - {name: audit-policy, mountPath: /spike3/audit/policy, readOnly: true}
  volumes:
  - {name: docker, emptyDir: {}}
  - {name: modules, hostPath: {path: /lib/modules}}
  - {name: audit-policy, configMap: {name: audit-policy}}
---
apiVersion: v1
kind: Service
metadata: {name: spike3-store-api, namespace: spike3}
spec:
  type: NodePort
  selector: {app: spike3-store}
  ports: [{name: api, port: 6443, targetPort: 6443, nodePort: 30643}]
EOF
  k -n $NS wait --for=condition=Ready pod/$POD --timeout=180s
  took "engine pod Ready (dockerd answering)" $t0
}

nodeimage() {
  local t0; t0=$(ts)
  docker save $NODE_IMG | kx docker load
  took "node image into the pod's Docker" $t0
}

inner_config() {  # edgelab's own kind config (cluster.kind_config + audit), the API on 0.0.0.0:6443 in the pod,
                  # ranges unlike the host's, and the host node's address in the certificate
  local hostip=$1
  (cd $REPO && .venv/bin/python - "$hostip" "${CGROUPFS:-1}" <<'EOF'
import sys, yaml
from pathlib import Path
from edgelab.kube import cluster, audit
c = cluster.kind_config(1)
c["name"] = "inner"
c["networking"].update(apiServerAddress="0.0.0.0", apiServerPort=6443,
                       podSubnet="10.246.0.0/16", serviceSubnet="10.112.0.0/16")
c = audit.add_to_kind_config(c, Path("/spike3/audit"))
c["kubeadmConfigPatches"].append(yaml.safe_dump({"kind": "ClusterConfiguration",
    "apiServer": {"certSANs": [sys.argv[1], "spike3-store-api.spike3.svc", "localhost", "127.0.0.1"]}}))
if sys.argv[2] == "1":  # CGROUPFS=1: nested kubelets and containerd on cgroupfs, as node-as-pod needed
    c["kubeadmConfigPatches"].append("kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n")
    c["containerdConfigPatches"] = ['[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
                                    '  SystemdCgroup = false\n']
print(yaml.safe_dump(c, sort_keys=False))
EOF
  )
}

inner() {
  local t0 hostip; t0=$(ts)
  hostip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' spike3-control-plane)
  inner_config $hostip > $W/inner-kind.yaml
  kx sh -c 'cat > /tmp/inner-kind.yaml' < $W/inner-kind.yaml
  kx kind create cluster --config /tmp/inner-kind.yaml --image $NODE_IMG --wait 0s
  # kind writes server: https://0.0.0.0:6443, which is not in the certificate: use the loopback inside the pod
  kx sed -i 's#server: https://0.0.0.0:6443#server: https://127.0.0.1:6443#' /root/.kube/config
  took "kind create cluster inside the pod" $t0
}

cni() {
  local t0; t0=$(ts)
  kx kubectl --kubeconfig /root/.kube/config apply -f - < $REPO/manifests/addons/kube-router.yaml
  kx kubectl --kubeconfig /root/.kube/config wait --for=condition=Ready nodes --all --timeout=180s
  took "kube-router applied, inner nodes Ready" $t0
}

kubeconfig() {
  local hostip; hostip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' spike3-control-plane)
  kx cat /root/.kube/config | sed "s#server: https://.*#server: https://$hostip:30643#" > $W/inner.kubeconfig
  echo $W/inner.kubeconfig
}

storeimages() {
  local t0 t1 imgs; t0=$(ts)
  imgs=$(cd $REPO && .venv/bin/python -c 'from edgelab.machine.images import store_images; print(" ".join(store_images()))')
  docker save $imgs | kx docker load
  took "store images into the pod's Docker" $t0; t1=$(ts)
  kx kind load docker-image --name inner $imgs
  took "kind load inside the pod" $t1
}

workloads() {
  local t0; t0=$(ts)
  (cd $REPO && .venv/bin/python -c '
import yaml
from edgelab.store import stores
print("---\n".join(yaml.safe_dump_all(d, sort_keys=False) for f, d in stores.rendered_workloads("4523")))') > $W/store-4523.yaml
  k --kubeconfig $W/inner.kubeconfig apply -f $W/store-4523.yaml
  k --kubeconfig $W/inner.kubeconfig wait --for=condition=Available deploy -A --all --timeout=300s
  took "store workloads available" $t0
}

stopnode() {
  local t0 t1 ik="k --kubeconfig $W/inner.kubeconfig"; t0=$(ts)
  kx docker stop inner-worker
  until $ik get node inner-worker --no-headers | grep -q NotReady; do sleep 1; done
  took "inner-worker NotReady after docker stop" $t0; t1=$(ts)
  kx docker start inner-worker
  until $ik get node inner-worker --no-headers | grep -qw Ready; do sleep 1; done
  took "inner-worker Ready after docker start" $t1
}

down() {
  local t0; t0=$(ts)
  kx kind delete cluster --name inner || true
  k delete ns $NS --wait=true || true
  (cd $REPO && .venv/bin/edgelab cluster down --name spike3)
  docker rmi $ENGINE_IMG || true
  rm -rf "$(dirname "$KUBECONFIG")"
  took "clean-up" $t0
}

"$@"
