#!/usr/bin/env bash
# Installs the tools deploy/validate.sh needs into the git-ignored cache, once:
#
#     bash deploy/tools.sh            # then: export PATH="$(bash deploy/tools.sh --bin):$PATH"
#
#   helm                 built from the Go module proxy with the release's version ldflags
#                        (without them helm assumes Kubernetes 1.20 and refuses the chart's
#                        kubeVersion >=1.25; the Makefile of helm derives the default
#                        Kubernetes version from its client-go module, so do we)
#   promtool, prometheus Debian's `prometheus` package (apt-get; root or sudo)
#   kubernetes-validate  a venv of its own under the cache (bundles the schemas, offline)
#
# Where: $LPRX_TOOLS_DIR, default <repo>/.cache/tools. Each tool is skipped when present.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${LPRX_TOOLS_DIR:-$PWD/.cache/tools}
BIN=$TOOLS/bin
if [ "${1:-}" = "--bin" ]; then echo "$BIN"; exit 0; fi
HELM_VERSION=v3.22.0
KUBERNETES_VALIDATE_VERSION=1.37.0
PYTHON=${PYTHON:-python3}
mkdir -p "$BIN"

if ! "$BIN/helm" version --short 2>/dev/null | grep -qx "$HELM_VERSION.*"; then
  echo "building helm $HELM_VERSION (a few minutes on 2 cores)"
  export GOBIN=$BIN GOFLAGS=-mod=mod
  src=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  client_go=$(sed -n 's#^\s*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$src/go.mod")
  [ -n "$client_go" ] || { echo "no client-go version in $src/go.mod" >&2; exit 1; }
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
  for pkg in pkg/chartutil pkg/lint/rules; do
    ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$client_go"
  done
  nice -n 10 go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
"$BIN/helm" version --short

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus
  # The package starts a Prometheus service where systemd runs; the checks start their
  # own on loopback, so stop it when it is there.
  $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
ln -sf "$(command -v promtool)" "$BIN/promtool"
ln -sf "$(command -v prometheus)" "$BIN/prometheus"
"$BIN/promtool" --version 2>&1 | head -1

if ! "$BIN/kubernetes-validate" --version >/dev/null 2>&1; then
  "$PYTHON" -m venv "$TOOLS/kv"
  "$TOOLS/kv/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  ln -sf "$TOOLS/kv/bin/kubernetes-validate" "$BIN/kubernetes-validate"
fi
echo "kubernetes-validate $("$BIN/kubernetes-validate" --version 2>&1 | tail -1)"
