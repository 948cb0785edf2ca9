#!/usr/bin/env bash
# Offline checks of everything under deploy/ (no cluster, no Docker). Run from anywhere:
#
#     bash deploy/validate.sh
#
# Needs on PATH: helm (v3), promtool, and kubernetes-validate (pip, in any venv); uses
# the project's .venv python for the settings check. See deploy/README.md ("Validation")
# for how to get each tool on a machine without them. A missing tool fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
CHART=deploy/helm/lprx
OUT=$(mktemp -d)
PY=${PYTHON:-.venv/bin/python}
failures=0
step() { printf '\n### %s\n' "$*"; }
check() { "$@" || { echo "FAILED: $*"; failures=$((failures + 1)); }; }

step "helm lint (default values, then ci/production-values.yaml)"
check helm lint --strict "$CHART"
check helm lint --strict "$CHART" -f "$CHART/ci/production-values.yaml"

step "helm template"
check helm template rel "$CHART" --output-dir "$OUT/default" >/dev/null
helm template rel "$CHART" > "$OUT/default.yaml" || failures=$((failures + 1))
helm template lprx "$CHART" -n lprx -f "$CHART/ci/production-values.yaml" \
  > "$OUT/production.yaml" || failures=$((failures + 1))
grep -c '^kind:' "$OUT/default.yaml" "$OUT/production.yaml"

step "helm template must refuse unsafe values"
refuse() {  # description, helm args...
  local what=$1; shift
  if helm template rel "$CHART" "$@" >/dev/null 2>&1; then
    echo "FAILED: rendered although $what"; failures=$((failures + 1))
  else
    echo "refused: $what"
  fi
}
refuse "existingSecret is empty" --set existingSecret=
refuse "a secret is put in config.extra" --set config.extra.LPRX_INGEST_TOKENS=x
refuse "an unknown top-level value (e.g. a password) is given" --set cassandraPassword=x
refuse "a stage is unknown" --set 'pipeline.stages={normalize,bogus}'
refuse "the cluster is older than 1.25" --kube-version 1.24.0

step "kubernetes-validate --strict (ServiceMonitor has no bundled schema: a warning)"
for version in 1.25.0 1.28.0 1.31.0 1.33.0; do
  echo "k8s $version"
  check kubernetes-validate --strict -k "$version" --quiet "$OUT/default.yaml" "$OUT/production.yaml"
done

step "rendered ConfigMaps load into pipelines.settings.Settings"
check "$PY" - "$OUT/default.yaml" "$OUT/production.yaml" <<'PY'
import os
import sys

import yaml

from pipelines.settings import Settings

fields = {f"LPRX_{name.upper()}" for name in Settings.model_fields}
for path in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    unknown = sorted(set(data) - fields)
    assert not unknown, f"{path}: not Settings fields: {unknown}"
    for key in [k for k in os.environ if k.startswith("LPRX_")]:
        del os.environ[key]
    os.environ.update(data)
    os.environ["LPRX_INGEST_TOKENS"] = '{"MN9990100": "example"}'
    settings = Settings(_env_file=None)
    assert settings.ingest_host == "0.0.0.0"
    print(f"{path}: {len(data)} settings parse")
PY

step "Grafana dashboard is JSON with unique panel ids"
check "$PY" - <<'PY'
import json

d = json.load(open("deploy/grafana/lprx-dashboard.json"))
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
print(d["title"], len(ids), "panels")
PY

step "promtool"
check promtool check config deploy/prometheus/prometheus.yml
check promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml) || failures=$((failures + 1))

rm -rf "$OUT"
echo
if [ "$failures" -eq 0 ]; then echo "deploy checks: all passed"; else echo "deploy checks: $failures failed"; fi
exit $((failures > 0))
