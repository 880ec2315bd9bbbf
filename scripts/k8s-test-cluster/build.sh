#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and kube-scheduler 1.20.2 offline from Debian's own `kubernetes`
# source package with Debian's Go, and cache them outside the work tree (keyed by version) so a second run, and
# every CI run on the same machine, is a no-op in seconds. Also installs Debian's etcd-server. Needs root + apt.
#
#   scripts/k8s-test-cluster/build.sh            # builds once, then no-op
#   UCF_K8S_CACHE=/some/dir scripts/k8s-test-cluster/build.sh
#
# Prints the bin directory on success. See scripts/k8s-test-cluster/README section in the repo README.
set -euo pipefail

K8S_VERSION="1.20.2"
DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
CACHE_ROOT="${UCF_K8S_CACHE:-/var/cache/usecase-foundry}"
CACHE="$CACHE_ROOT/k8s-$K8S_VERSION"
BIN="$CACHE/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)

have_binaries() {
  [ -f "$BIN/.complete" ] || return 1
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  flock /var/lock/usecase-foundry-apt.lock apt-get -o DPkg::Lock::Timeout=300 update -qq
  flock /var/lock/usecase-foundry-apt.lock apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@"
}

if have_binaries && command -v etcd >/dev/null; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock 9   # a concurrent run (CI and a test session) waits for this one instead of building twice
if have_binaries && command -v etcd >/dev/null; then
  echo "$BIN"
  exit 0
fi

started=$(date +%s)
if ! command -v etcd >/dev/null; then apt_install etcd-server; fi
if have_binaries; then echo "$BIN"; exit 0; fi

# Debian's source archive: a deb-src stanza with the same URIs and key as the binary one.
SRC_LIST=/etc/apt/sources.list.d/usecase-foundry-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  cat >"$SRC_LIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt_install golang-go dpkg-dev make rsync ca-certificates golang-github-modern-go-reflect2-dev

WORK="$CACHE/build"
rm -rf "$WORK"
mkdir -p "$WORK/download"
cd "$WORK/download"
apt-get source --download-only -qq "kubernetes=$DEB_VERSION"
dpkg-source --no-check -x ./*.dsc src >/dev/null

# Module mode fails ("updates to go.mod needed"); GOPATH mode with the vendored tree works.
export GOPATH="$WORK/gopath"
export GOCACHE="$CACHE/gocache"   # beside the work folder: an interrupted build resumes from it
export GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
mkdir -p "$GOPATH/src/k8s.io"
mv "$WORK/download/src" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"
rm -rf .git
# Kubernetes 1.20 vendors modern-go/reflect2 1.0.1, which Go 1.18+ breaks: the apiserver then panics decoding any
# object with a map (POST of a Node with labels). 1.0.2 (Debian's golang-github-modern-go-reflect2-dev) is the fix.
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
rm -rf vendor/github.com/modern-go/reflect2/.git* vendor/github.com/modern-go/reflect2/debian
# Without the generated openapi definitions the apiserver does not build.
KUBE_GIT_VERSION="v$K8S_VERSION" make generated_files >"$WORK/generated_files.log" 2>&1 \
  || { tail -50 "$WORK/generated_files.log"; exit 1; }

PKG=k8s.io/kubernetes/vendor/k8s.io
LDFLAGS="-s -w"
for p in "$PKG/component-base/version" "$PKG/client-go/pkg/version"; do
  LDFLAGS="$LDFLAGS -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=20"
  LDFLAGS="$LDFLAGS -X $p.gitTreeState=clean -X $p.gitCommit=debian-$DEB_VERSION"
  LDFLAGS="$LDFLAGS -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done

OUT="$WORK/out"
mkdir -p "$OUT"
for b in "${BINARIES[@]}"; do
  echo "building $b" >&2
  go build -trimpath -ldflags "$LDFLAGS" -o "$OUT/$b" "./cmd/$b"
done
"$OUT/kube-apiserver" --version >&2

rm -rf "$BIN.new" && mkdir -p "$BIN.new"
mv "$OUT"/* "$BIN.new/"
echo "v$K8S_VERSION debian $DEB_VERSION go $(go env GOVERSION) built in $(( $(date +%s) - started ))s" \
  >"$BIN.new/.complete"
rm -rf "$BIN" && mv "$BIN.new" "$BIN"
[ -n "${UCF_K8S_KEEP_BUILD:-}" ] || rm -rf "$WORK" "$GOCACHE"   # ~2 GB of sources and Go cache: binaries suffice
cat "$BIN/.complete" >&2
echo "$BIN"
