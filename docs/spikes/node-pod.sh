#!/bin/bash
# Spike 26: a store node (edgelab/kind-node) as a privileged pod of the host cluster "spike".
# usage: node-pod.sh pod NAME HOSTNODE      -> create the node pod on HOSTNODE, wait Running, prep cgroups+containerd
#        node-pod.sh init NAME SANS...      -> kubeadm init inside NAME (control plane)
#        node-pod.sh join NAME CPNAME       -> kubeadm join NAME to CPNAME's control plane
set -euo pipefail
KUBECTL=${KUBECTL:-$(jq -r .kubectl /root/.config/edgelab/setup.json)}
export KUBECONFIG=${KUBECONFIG:-/root/.local/state/edgelab/clusters/spike/kubeconfig}
NS=store
IMG=edgelab/kind-node:v1.34.4
POD_CIDR=10.246.0.0/16
SVC_CIDR=10.112.0.0/16
k() { "$KUBECTL" "$@"; }
kx() { local n=$1; shift; k -n $NS exec "$n" -- "$@"; }
ts() { date +%s.%N; }

pod() {
  local name=$1 hostnode=$2 t0; t0=$(ts)
  k get ns $NS >/dev/null 2>&1 || k create ns $NS
  k -n $NS create configmap audit-policy --from-file=policy.yaml=/work/main/manifests/audit/policy.yaml \
     --dry-run=client -o yaml | k apply -f -
  cat <<YAML | k apply -f -
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $NS
  labels: {app: store-node, store-node: $name}
spec:
  nodeName: $hostnode
  hostname: $name
  enableServiceLinks: false
  terminationGracePeriodSeconds: 5
  tolerations: [{operator: Exists}]
  initContainers:
  - name: seed-var
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, "cp -a /var/. /seed/"]
    volumeMounts: [{name: var, mountPath: /seed}]
  containers:
  - name: node
    image: $IMG
    imagePullPolicy: Never
    securityContext: {privileged: true}
    env: [{name: container, value: docker}]
    volumeMounts:
    - {name: var, mountPath: /var}
    - {name: modules, mountPath: /lib/modules, readOnly: true}
    - {name: run, mountPath: /run}
    - {name: tmp, mountPath: /tmp}
    - {name: audit-policy, mountPath: /etc/kubernetes/audit-policy, readOnly: true}
  volumes:
  - {name: var, emptyDir: {}}
  - {name: modules, hostPath: {path: /lib/modules}}
  - {name: run, emptyDir: {medium: Memory}}
  - {name: tmp, emptyDir: {medium: Memory}}
  - {name: audit-policy, configMap: {name: audit-policy}}
YAML
  k -n $NS wait --for=condition=Ready pod/$name --timeout=180s
  echo "pod $name Ready after $(echo "$(ts)-$t0" | bc) s"
  # wait for systemd + containerd inside
  for i in $(seq 60); do kx $name systemctl is-active containerd >/dev/null 2>&1 && break; sleep 1; done
  # cgroupfs driver + own cgroup root
  kx $name sh -c "for d in /sys/fs/cgroup/*/; do [ -L \${d%/} ] || mkdir -p \$d/storenode; done"
  kx $name sh -c "sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' /etc/containerd/config.toml && systemctl restart containerd"
  for i in $(seq 30); do kx $name ctr -n k8s.io version >/dev/null 2>&1 && break; sleep 1; done
  echo "node $name prepared after $(echo "$(ts)-$t0" | bc) s"
}

kubelet_cfg() {
  cat <<YAML
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /storenode
failSwapOn: false
imageGCHighThresholdPercent: 100
evictionHard: {nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
YAML
}

init() {
  local name=$1; shift; local t0; t0=$(ts)
  local ip; ip=$(k -n $NS get pod $name -o jsonpath='{.status.podIP}')
  local sans="    - $ip"; for s in "$@" 127.0.0.1 localhost; do sans="$sans
    - $s"; done
  cat > /tmp/spike26/kubeadm-$name.yaml <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: $ip, bindPort: 6443}
nodeRegistration:
  name: $name
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs: [{name: node-ip, value: "$ip"}]
  ignorePreflightErrors: [all]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.34.4
clusterName: store
controlPlaneEndpoint: "$ip:6443"
networking: {podSubnet: $POD_CIDR, serviceSubnet: $SVC_CIDR}
apiServer:
  certSANs:
$sans
  extraArgs:
  - {name: audit-policy-file, value: /etc/kubernetes/audit-policy/policy.yaml}
  - {name: audit-log-path, value: /var/log/kubernetes/audit/audit.log}
  - {name: audit-log-format, value: json}
  - {name: audit-log-maxsize, value: "100"}
  - {name: audit-log-maxbackup, value: "5"}
  extraVolumes:
  - {name: audit-policy, hostPath: /etc/kubernetes/audit-policy, mountPath: /etc/kubernetes/audit-policy, readOnly: true, pathType: DirectoryOrCreate}
  - {name: audit-log, hostPath: /var/log/kubernetes/audit, mountPath: /var/log/kubernetes/audit, readOnly: false, pathType: DirectoryOrCreate}
controllerManager:
  extraArgs: [{name: allocate-node-cidrs, value: "true"}]
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
conntrack: {maxPerCore: 0}
$(kubelet_cfg $name)
YAML
  k -n $NS cp /tmp/spike26/kubeadm-$name.yaml $name:/kind/kubeadm.yaml
  kx $name kubeadm init --config /kind/kubeadm.yaml --skip-token-print
  echo "kubeadm init $name took $(echo "$(ts)-$t0" | bc) s"
  kx $name cat /etc/kubernetes/admin.conf > /tmp/spike26/store-admin.conf
}

join() {
  local name=$1 cp=$2 t0; t0=$(ts)
  local ip; ip=$(k -n $NS get pod $name -o jsonpath='{.status.podIP}')
  local cmd; cmd=$(kx $cp kubeadm token create --print-join-command)
  # cmd = kubeadm join HOST:PORT --token T --discovery-token-ca-cert-hash H
  local ep tok hash; ep=$(echo "$cmd" | awk '{print $3}'); tok=$(echo "$cmd" | awk '{print $5}'); hash=$(echo "$cmd" | awk '{print $7}')
  cat > /tmp/spike26/kubeadm-$name.yaml <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken: {apiServerEndpoint: "$ep", token: "$tok", caCertHashes: ["$hash"]}
nodeRegistration:
  name: $name
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs: [{name: node-ip, value: "$ip"}]
  ignorePreflightErrors: [all]
$(kubelet_cfg $name)
YAML
  k -n $NS cp /tmp/spike26/kubeadm-$name.yaml $name:/kind/kubeadm.yaml
  kx $name kubeadm join --config /kind/kubeadm.yaml
  echo "kubeadm join $name took $(echo "$(ts)-$t0" | bc) s"
}

# The nested pod network across host nodes: kube-router's IPIP tunnel needs the ipip module (absent here),
# so: kube-router --enable-overlay=false, plus host routes on the host kind nodes (docker exec):
# each nested node's podCIDR via its node pod (same host node) or via the other host node.
routes() {  # routes CPNAME  (after every node pod (re)start)
  local cp=$1
  kx $cp kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get ds kube-router -o json | grep -q enable-overlay=false ||
    kx $cp kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system patch ds kube-router --type=json \
      -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--enable-overlay=false"}]'
  local hostnodes; hostnodes=$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
  kx $cp kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR}{"\n"}{end}' |
  while read -r nn cidr; do
    local hn pip hip; hn=$(k -n $NS get pod $nn -o jsonpath='{.spec.nodeName}'); pip=$(k -n $NS get pod $nn -o jsonpath='{.status.podIP}')
    hip=$(echo "$hostnodes" | awk -v h=$hn '$1==h{print $2}')
    echo "$hostnodes" | while read -r h ip; do
      if [ "$h" = "$hn" ]; then docker exec $h ip route replace $cidr via $pip; else docker exec $h ip route replace $cidr via $hip; fi
    done
  done
}

"$@"
