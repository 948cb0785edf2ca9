#!/usr/bin/env bash
# Offline checks of everything under deploy/ (no cluster, no Docker). Run from anywhere:
#
#     bash deploy/tools.sh && bash deploy/validate.sh      # `make deploy-check` does both
#
# Tools: helm, promtool, kubernetes-validate from deploy/tools.sh's cache (or PATH); the
# project's .venv python (or $PYTHON) for the manifest and settings checks. A missing tool
# fails the run. Each render must hold exactly the manifests expected, and each refusal
# must be for the reason expected (helm's own message), so an empty or broken render can
# never pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$(bash deploy/tools.sh --bin):$PATH"
CHART=deploy/helm/lprx
PROD=$CHART/ci/production-values.yaml
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PY=${PYTHON:-.venv/bin/python}
failures=0
step() { printf '\n### %s\n' "$*"; }
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }
check() { "$@" || fail "$*"; }

for tool in helm promtool kubernetes-validate "$PY"; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run bash deploy/tools.sh"; exit 1; }
done
helm version --short

# The values matrix: name, release, expected kinds, helm args.
# Deployments: ocr, pipeline, store, ingest, api; Services: ingest, metrics, api; CronJob: the
# audit checkpoint; Job: setup; Pod: the helm test.
DEFAULT_KINDS="ConfigMap=1 CronJob=1 Deployment=5 Job=1 NetworkPolicy=4 PodDisruptionBudget=5 Service=3 ServiceAccount=1 Pod=1"
PROD_KINDS="ConfigMap=2 CronJob=1 Deployment=5 Job=1 NetworkPolicy=4 PodDisruptionBudget=5 Service=3 ServiceAccount=1 Pod=1 Ingress=2 ServiceMonitor=1 PrometheusRule=1 ScaledObject=1"
PLAIN_KINDS="ConfigMap=2 CronJob=1 Deployment=5 Job=1 NetworkPolicy=4 PodDisruptionBudget=5 Service=3 ServiceAccount=1 Pod=1 Ingress=1 PrometheusRule=1 ScaledObject=2"
INGEST_KINDS="ConfigMap=1 Deployment=1 NetworkPolicy=2 PodDisruptionBudget=1 Service=1 ServiceAccount=1 Pod=1"
# PLAINTEXT Kafka, no Cassandra TLS, and the API in plain HTTP behind an Ingress with TLS.
PLAIN_ARGS=(--set kafka.securityProtocol=PLAINTEXT --set cassandra.tls=false
  --set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboard.enabled=true
  --set ocr.autoscaling.enabled=true --set pipeline.autoscaling.enabled=true
  --set pipeline.autoscaling.maxReplicas=50
  --set config.api.tls=false --set api.ingress.enabled=true
  --set 'api.ingress.tls[0].secretName=lprx-api-ingress-tls'
  --set 'api.ingress.tls[0].hosts[0]=lprx.example.org')
INGEST_ARGS=(--set ocr.enabled=false --set pipeline.enabled=false --set store.enabled=false
  --set setup.enabled=false
  --set api.enabled=false --set auditCheckpoint.enabled=false)
PROD_CREDENTIALS="worker=lprx-prod-worker,ocr=lprx-prod-ocr,ingest=lprx-prod-ingest,api=lprx-prod-api,custodian=lprx-prod-custodian,apiTls=lprx-prod-api-tls,auditSigning=lprx-prod-audit-signing,auditCheckpoint=lprx-prod-audit-checkpoint,setup=lprx-prod-admin"

step "helm lint --strict over the values matrix"
check helm lint --strict "$CHART"
check helm lint --strict "$CHART" -f "$PROD"
check helm lint --strict "$CHART" "${PLAIN_ARGS[@]}"
check helm lint --strict "$CHART" "${INGEST_ARGS[@]}"

step "helm template: each render holds exactly the manifests expected"
render() {  # name, release, credentials, kinds, helm args...
  local name=$1 release=$2 credentials=$3 kinds=$4; shift 4
  if ! helm template "$release" "$CHART" "$@" >"$OUT/$name.yaml" 2>"$OUT/$name.err"; then
    fail "render $name: $(cat "$OUT/$name.err")"
    return
  fi
  local expect=()
  for kind in $kinds; do expect+=(--expect "$kind"); done
  check "$PY" deploy/check_manifests.py "$OUT/$name.yaml" --credentials "$credentials" "${expect[@]}"
}
DEFAULT_CREDENTIALS="worker=lprx-worker,ocr=lprx-ocr,ingest=lprx-ingest,api=lprx-api,custodian=lprx-custodian,apiTls=lprx-api-tls,auditSigning=lprx-audit-signing,auditCheckpoint=lprx-audit-checkpoint,setup=lprx-admin"
render default rel "$DEFAULT_CREDENTIALS" "$DEFAULT_KINDS"
render production lprx "$PROD_CREDENTIALS" "$PROD_KINDS" -n lprx -f "$PROD"
# A release name without "lprx" in it: names, labels and the alerts must not care.
render plaintext alpr-prod "$DEFAULT_CREDENTIALS" "$PLAIN_KINDS" "${PLAIN_ARGS[@]}"
render ingest-only edge "$DEFAULT_CREDENTIALS" "$INGEST_KINDS" "${INGEST_ARGS[@]}"
grep -q 'name: alpr-prod-lprx-pipeline' "$OUT/plaintext.yaml" || fail "release name not used"
if grep -q 'kafka-ca\|kafka-password' "$OUT/plaintext.yaml"; then
  fail "PLAINTEXT Kafka still mounts Kafka TLS or SCRAM files"
fi
grep -q 'maxReplicaCount: 3' "$OUT/plaintext.yaml" || fail "maxReplicas not capped at 3 partitions"
grep -q 'name: alpr-prod-lprx-audit-checkpoint' "$OUT/plaintext.yaml" || fail "no checkpoint CronJob"
grep -q 'scheme: HTTP$' "$OUT/plaintext.yaml" || fail "API behind the Ingress does not probe plain HTTP"
if grep -q 'api/tls.key' "$OUT/plaintext.yaml"; then
  fail "config.api.tls=false still mounts the API's TLS key"
fi
grep -q 'timeZone: "America/Chicago"' "$OUT/production.yaml" || fail "checkpoint timeZone not rendered"

step "check_manifests.py must catch a pod that mounts a Secret not its own"
catch() {  # what, message the check must print, credentials it is told, helm args...
  local what=$1 message=$2 credentials=$3; shift 3
  helm template rel "$CHART" "$@" >"$OUT/caught.yaml" 2>"$OUT/caught.err" \
    || { fail "render for \"$what\": $(cat "$OUT/caught.err")"; return; }
  local expect=()
  for kind in $DEFAULT_KINDS; do expect+=(--expect "$kind"); done
  if "$PY" deploy/check_manifests.py "$OUT/caught.yaml" --credentials "$credentials" \
      "${expect[@]}" >"$OUT/caught.out" 2>&1; then
    fail "check_manifests passed although $what"
  elif ! grep -qF -- "$message" "$OUT/caught.out"; then
    fail "check_manifests failed on $what, but not with \"$message\": $(cat "$OUT/caught.out")"
  else
    echo "caught: $what"
  fi
}
# The signing key kept in the API's Secret: the API pods would hold it.
catch "the API mounts the checkpoint signing key" "rel-lprx-api: mounts the checkpoint signing key" \
  "${DEFAULT_CREDENTIALS/auditSigning=lprx-audit-signing/auditSigning=lprx-api}" \
  --set credentials.auditSigning.secretName=lprx-api
catch "the API mounts the workers' Secret" \
  "rel-lprx-api: mounts Secrets ['lprx-worker'] of other principals" "$DEFAULT_CREDENTIALS" \
  --set credentials.custodian.secretName=lprx-worker
catch "the checkpoint runs with another principal's Secret" \
  "rel-lprx-audit-checkpoint: mounts Secrets ['lprx-ingest'] of other principals" \
  "$DEFAULT_CREDENTIALS" --set credentials.auditSigning.secretName=lprx-ingest
catch "the checkpoint runs with the admin's Secret" \
  "rel-lprx-audit-checkpoint: mounts Secrets ['lprx-admin'] of other principals" \
  "$DEFAULT_CREDENTIALS" --set credentials.auditCheckpoint.secretName=lprx-admin

step "helm template must refuse unsafe values, each for its own reason"
refuse() {  # what, message helm must give, helm args...
  local what=$1 message=$2; shift 2
  if helm template rel "$CHART" "$@" >/dev/null 2>"$OUT/refused.err"; then
    fail "rendered although $what"
  elif ! grep -qF -- "$message" "$OUT/refused.err"; then
    fail "refused $what, but not with \"$message\": $(cat "$OUT/refused.err")"
  else
    echo "refused: $what"
  fi
}
refuse "a principal's Secret is not named" "credentials.worker.secretName must name a Secret" \
  --set credentials.worker.secretName=
refuse "a secret is put in config.extra" "LPRX_INGEST_TOKENS is a secret" \
  --set config.extra.LPRX_INGEST_TOKENS=x
refuse "a password is put in config.extra" "LPRX_KAFKA_PASSWORD is a secret" \
  --set config.extra.LPRX_KAFKA_PASSWORD=x
refuse "an unknown top-level value (e.g. a password) is given" \
  "additional properties 'cassandraPassword' not allowed" --set cassandraPassword=x
refuse "a stage is unknown" "/pipeline/stages/1" --set 'pipeline.stages={normalize,bogus}'
refuse "the signing key's Secret is not named" "credentials.auditSigning.secretName must name a Secret" \
  --set credentials.auditSigning.secretName=
refuse "the checkpoint's Secret is not named" "credentials.auditCheckpoint.secretName must name a Secret" \
  --set credentials.auditCheckpoint.secretName=
refuse "the custodian's Secret is not named" "credentials.custodian.secretName must name a Secret" \
  --set credentials.custodian.secretName=
refuse "the API's certificate Secret is not named" "credentials.apiTls.secretName must name a Secret" \
  --set credentials.apiTls.secretName=
refuse "the API serves plain HTTP without a TLS Ingress" \
  "config.api.tls=false serves passwords and sessions in clear text" --set config.api.tls=false
refuse "overlapping checkpoint runs are asked for" \
  "additional properties 'concurrencyPolicy' not allowed" --set auditCheckpoint.concurrencyPolicy=Allow
refuse "making a missing signing key is asked for in config.extra" \
  "LPRX_AUDIT_SIGNING_KEY_REQUIRED is the chart's" --set config.extra.LPRX_AUDIT_SIGNING_KEY_REQUIRED=false
refuse "the cluster is older than 1.25" "chart requires kubeVersion: >=1.25.0-0" \
  --kube-version 1.24.0
refuse "SASL_SSL without the brokers' CA" "kafka.caSecret.name: the CA of the brokers" \
  --set kafka.caSecret.name=
refuse "Cassandra TLS without its CA" "cassandra.caSecret.name: the CA of Cassandra" \
  --set cassandra.caSecret.name=
refuse "min.insync.replicas above the replication factor" \
  "config.topicMinInsyncReplicas cannot exceed config.topicReplicationFactor" \
  --set config.topicReplicationFactor=1 --set config.topicMinInsyncReplicas=2
refuse "an unknown Kafka security protocol" "/kafka/securityProtocol" \
  --set kafka.securityProtocol=SSL
refuse "autoscaling with more minimum replicas than partitions" \
  "pipeline.autoscaling.minReplicas exceeds the replicas that can work" \
  --set pipeline.autoscaling.enabled=true --set pipeline.autoscaling.minReplicas=5

step "kubernetes-validate --strict (CRDs ServiceMonitor, PrometheusRule, ScaledObject have no bundled schema: warnings)"
for version in 1.25.0 1.28.0 1.31.0 1.33.0; do
  echo "k8s $version"
  check kubernetes-validate --strict -k "$version" --quiet \
    "$OUT/default.yaml" "$OUT/production.yaml" "$OUT/plaintext.yaml" "$OUT/ingest-only.yaml"
done

step "Grafana dashboard: JSON, unique panel ids, every panel with a query"
check "$PY" - <<'PY'
import json

d = json.load(open("deploy/helm/lprx/files/lprx-dashboard.json"))
panels = [p for p in d["panels"] if p["type"] != "row"]
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
empty = [p["title"] for p in panels if not any(t.get("expr") for t in p.get("targets", []))]
assert not empty, f"panels without a query: {empty}"
print(d["title"], len(panels), "panels")
PY

step "promtool: config, rules, rule unit tests"
check promtool check config deploy/prometheus/prometheus.yml
check promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml) || fail "promtool test rules"

echo
if [ "$failures" -eq 0 ]; then echo "deploy checks: all passed"; else echo "deploy checks: $failures failed"; fi
exit $((failures > 0))
