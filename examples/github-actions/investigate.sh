#!/usr/bin/env bash
# A learner's investigation of the lab "POS is down" (pos-down-4523), written as a program:
# the course's flow with kubectl, then the findings for `edgelab lab run` to grade.
#
#   edgelab lab run pos-down-4523 --store 4523 --agent "bash investigate.sh" --junit report.xml
#
# Where it runs (docs of `edgelab lab run`): in a container, working directory = this repository
# (read-only), HOME=/tmp, only kubectl, sh/bash and python3 on PATH (no jq). The environment
# gives $KUBECONFIG (a responder identity of its own), $EDGELAB_FINDINGS (where the findings go;
# without it they go to stdout), $EDGELAB_TIME_LIMIT (seconds, may be empty). What it does is
# printed on stderr, which the run keeps.
#
# It decides from what the store shows. Nothing here names the answer: which dependency is down
# (the lab draws it per attempt), its namespace, its deployment and its pods' state all come
# from kubectl's output.
set -euo pipefail

NS=pos                           # the ticket: the registers (POS) are down
SERVICE=pos-backend-service      # the course's flow for "POS is down"
WORKLOAD=pos-backend

say() { printf '[investigate] %s\n' "$*" >&2; }

# kubectl, shown on stderr (at most $SHOW lines of its output); its stdout in $OUT
SHOW=40
kc() {
    say "\$ kubectl $*"
    OUT=$(kubectl "$@") || { say "kubectl $1 failed"; return 1; }
    if [ -n "$OUT" ]; then printf '%s\n' "$OUT" | tail -n "$SHOW" | sed 's/^/    /' >&2; fi
}

# how long to look before giving up: inside the time limit when there is one
limit=${EDGELAB_TIME_LIMIT:-}
if [[ $limit =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    budget=$(( ${limit%.*} - 30 ))
    (( budget < 30 )) && budget=30
else
    budget=300
fi
deadline=$(( SECONDS + budget ))

# YAML single-quoted scalar: the line exactly as printed
yq() { printf "'%s'" "${1//\'/\'\'}"; }

findings() {  # namespace workload pod_state root_cause evidence...
    local ns=$1 wl=$2 state=$3 cause=$4 e
    shift 4
    {
        printf 'namespace: %s\nworkload: %s\npod_state: %s\nroot_cause: %s\nevidence:\n' \
            "$(yq "$ns")" "$(yq "$wl")" "$(yq "$state")" "$(yq "$cause")"
        for e in "$@"; do printf '  - %s\n' "$(yq "$e")"; done
    } > "${EDGELAB_FINDINGS:-/dev/stdout}"
    say "findings written to ${EDGELAB_FINDINGS:-stdout}: $ns/$wl, $state, $cause"
}

# 1. the pods of the POS: running? ready?
kc get pods -n "$NS"
backend_pods=$(awk -v p="$WORKLOAD-" 'index($1, p) == 1 {print $1}' <<<"$OUT")
backend_ready=$(awk -v p="$WORKLOAD-" 'index($1, p) == 1 {print $2; exit}' <<<"$OUT")
backend_status=$(awk -v p="$WORKLOAD-" 'index($1, p) == 1 {print $3; exit}' <<<"$OUT")
if [ -z "$backend_pods" ]; then
    say "no $WORKLOAD pods in $NS"
    findings "$NS" "$WORKLOAD" NoPods all-pods-down
    exit 1
fi
say "$WORKLOAD: $backend_status, ready $backend_ready"

# 2. does the Service have endpoints? (Running but not Ready = no endpoints)
kc get endpoints "$SERVICE" -n "$NS"
# 3. what happened recently
kc get events -n "$NS" --sort-by=.lastTimestamp
pod=${backend_pods%%$'\n'*}

# 4. why is it not ready? its logs say. The health checker writes one line per change:
#    "<dep> at <url> is unreachable" / "still unreachable after N checks" / "answers".
#    A dependency is down when its last such line says unreachable (at start-up every
#    dependency may "not answer" once, then "answers": those are not it).
dep_line="" dep_url=""
while :; do
    kc logs "$pod" -n "$NS" --tail=400
    declare -A last=() line_of=() url_of=()
    while IFS= read -r line; do
        if [[ $line =~ health:\ ([A-Za-z0-9._-]+)\ at\ ([^ ]+)\ (is\ unreachable|still\ unreachable|answers) ]]; then
            name=${BASH_REMATCH[1]}
            last[$name]=${BASH_REMATCH[3]}
            if [ "${BASH_REMATCH[3]}" != answers ]; then
                line_of[$name]=$line
                url_of[$name]=${BASH_REMATCH[2]}
            fi
        fi
    done <<<"$OUT"
    for name in "${!last[@]}"; do
        if [ "${last[$name]}" != answers ]; then
            dep_line=${line_of[$name]}
            dep_url=${url_of[$name]}
            say "the logs name $name ($dep_url): ${last[$name]}"
            break
        fi
    done
    [ -n "$dep_line" ] && break
    if (( SECONDS >= deadline )); then
        say "no dependency reported unreachable in $pod's logs after ${budget}s"
        findings "$NS" "$WORKLOAD" NotReady ""
        exit 1
    fi
    say "no dependency reported down yet; looking again in 5 s"
    sleep 5
done

# 5. follow the name: http://<service>.<namespace>.svc.cluster.local[:port][/path]
host=${dep_url#*://}
host=${host%%/*}
host=${host%%:*}
dep_service=${host%%.*}
rest=${host#*.}
dep_ns=${rest%%.*}
if [ "$dep_service" = "$host" ] || [ -z "$dep_ns" ]; then
    say "cannot tell the namespace from $dep_url"
    findings "$NS" "$WORKLOAD" NotReady dependency-down "$dep_line"
    exit 1
fi
say "following $dep_service to namespace $dep_ns"

# the Service's selector, then the deployment whose pods it selects
kc get service "$dep_service" -n "$dep_ns" -o 'go-template={{range $k, $v := .spec.selector}}{{$k}}={{$v}}{{"\n"}}{{end}}'
selector=$OUT
kc get deployments -n "$dep_ns" -o 'go-template={{range .items}}{{.metadata.name}}{{range $k, $v := .spec.template.metadata.labels}} {{$k}}={{$v}}{{end}}{{"\n"}}{{end}}'
dep_workload=""
while read -r name labels; do
    [ -n "$name" ] || continue
    ok=1
    while IFS= read -r pair; do
        [ -n "$pair" ] || continue
        [[ " $labels " == *" $pair "* ]] || ok=0
    done <<<"$selector"
    if (( ok )); then dep_workload=$name; break; fi
done <<<"$OUT"
if [ -z "$dep_workload" ]; then
    say "no deployment in $dep_ns has the pods $dep_service selects"
    findings "$dep_ns" "$dep_service" NotReady dependency-down "$dep_line"
    exit 1
fi

# 6. the deployment's replicas (the course: "How many replicas are there?") and its pods
kc get deployment "$dep_workload" -n "$dep_ns"
row=$(awk -v d="$dep_workload" '$1 == d' <<<"$OUT")
ready=$(awk '{print $2}' <<<"$row")
label_selector=$(paste -sd, <<<"$selector")
kc get pods -n "$dep_ns" -l "$label_selector" --no-headers
if [ -z "$OUT" ]; then
    pod_state=NoPods
elif state=$(awk '$3 != "Running" {print $3; exit}' <<<"$OUT") && [ -n "$state" ]; then
    pod_state=$state
else
    pod_state=NotReady
fi
say "$dep_ns/$dep_workload: ready $ready, pods: $pod_state"

# pos-backend is not ready because what it depends on is down
findings "$dep_ns" "$dep_workload" "$pod_state" dependency-down "$dep_line" "$row"
