#!/usr/bin/env bash
# Start or stop a throw-away Kubernetes control plane on 127.0.0.1: etcd (Debian's etcd-server), kube-apiserver,
# kube-controller-manager and kube-scheduler 1.20.2 (from build.sh). No kubelet: tests create fake nodes and play
# the kubelet themselves. Every run gets its own folder (certificates, token file, service-account keys, etcd data)
# and free ports, so parallel runs do not collide.
#
#   dir=$(scripts/k8s-test-cluster/cluster.sh start)   # prints the folder; $dir/kubeconfig is cluster-admin
#   scripts/k8s-test-cluster/cluster.sh stop "$dir"
#
# UCF_K8S_BIN overrides where the binaries are (default: the cache build.sh fills).
set -euo pipefail

BIN="${UCF_K8S_BIN:-${UCF_K8S_CACHE:-/var/cache/usecase-foundry}/k8s-1.20.2/bin}"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$(( $(date +%s) + $1 )) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

start() {
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: run scripts/k8s-test-cluster/build.sh" >&2; exit 2; }
  done
  command -v etcd >/dev/null || { echo "missing etcd: run scripts/k8s-test-cluster/build.sh" >&2; exit 2; }
  local base=/tmp
  [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm   # etcd fsyncs every write: memory is faster than disk
  local dir
  dir="$(mktemp -d "$base/ucf-k8s.XXXXXX")"
  local started etcd_port peer_port api_port token
  started=$(date +%s%N)
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kube-apiserver" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc" \
    -keyout "$dir/apiserver.key" -out "$dir/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
  chmod 600 "$dir"/*.key "$dir/tokens.csv"

  cat >"$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 "$dir/apiserver.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
KC
  chmod 600 "$dir/kubeconfig"

  etcd --name default --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  wait_for 30 etcd curl -sf "http://127.0.0.1:$etcd_port/health"

  # ServiceAccount admission is off: no kubelet mounts tokens here, and Pods need not wait for a default account.
  "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" --insecure-port 0 \
    --tls-cert-file "$dir/apiserver.crt" --tls-private-key-file "$dir/apiserver.key" \
    --token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
    --service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/16 \
    --disable-admission-plugins ServiceAccount --allow-privileged=false \
    >"$dir/kube-apiserver.log" 2>&1 &
  echo $! >"$dir/kube-apiserver.pid"
  wait_for 60 kube-apiserver curl -sfk -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz"

  # nodelifecycle is off: fake nodes send no heartbeats and must not be tainted unreachable after 40 s.
  "$BIN/kube-controller-manager" --kubeconfig "$dir/kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0 --port 0 --controllers '*,-nodelifecycle' \
    --service-account-private-key-file "$dir/sa.key" --root-ca-file "$dir/apiserver.crt" \
    >"$dir/kube-controller-manager.log" 2>&1 &
  echo $! >"$dir/kube-controller-manager.pid"
  "$BIN/kube-scheduler" --kubeconfig "$dir/kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 0 --port 0 >"$dir/kube-scheduler.log" 2>&1 &
  echo $! >"$dir/kube-scheduler.pid"
  sleep 0.5
  for p in kube-controller-manager kube-scheduler; do
    kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null || { tail -20 "$dir/$p.log" >&2; stop "$dir"; exit 1; }
  done
  # Ready when the default namespace exists (created by the apiserver's bootstrap controller).
  wait_for 30 "the default namespace" curl -sfk -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$api_port/api/v1/namespaces/default"
  echo "$(( ($(date +%s%N) - started) / 1000000 ))" >"$dir/start_ms"
  echo "$dir"
}

stop() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  for p in kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [ -f "$dir/$p.pid" ]; then kill "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
  done
  for p in kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [ -f "$dir/$p.pid" ]; then
      pid="$(cat "$dir/$p.pid")"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  case "$dir" in /tmp/ucf-k8s.*|/dev/shm/ucf-k8s.*) rm -rf "$dir" ;; esac
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:?usage: cluster.sh stop DIR}" ;;
  *) echo "usage: cluster.sh start | stop DIR" >&2; exit 64 ;;
esac
