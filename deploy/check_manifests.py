"""Checks one `helm template` render of the lprx chart (deploy/validate.sh runs it).

    python deploy/check_manifests.py RENDER.yaml --expect Deployment=3 --expect Job=1 ...

Fails (exit 1, one line per problem) unless the render holds exactly the expected number
of each kind, and:
- no Secret is rendered and no env var that names a password, token or secret has a
  plain value;
- each pod mounts the Secrets of its own principal only (setup: every service's, since
  it sets their passwords), as files, copied by the ``secrets`` init container;
- the API pods mount exactly the files of lprx-api and lprx_custodian (each Cassandra
  role's password where lprx looks by role name, no single password file) and the TOTP
  key, and probe /health (live, started) and /readyz (ready) on the API port with the
  scheme LPRX_API_TLS says;
- the checkpoint signing key is mounted by the audit checkpoint CronJob only, which
  runs ``audit checkpoint`` once at a time with LPRX_AUDIT_SIGNING_KEY_REQUIRED and
  mounts the files of its own principal (lprx-checkpoint, lprx_checkpoint) and no other;
- workers probe their own /livez and /readyz; every pod carries the part-of label the
  alerts select on; a ServiceMonitor copies it onto the targets;
- a ScaledObject targets a rendered Deployment, asks for that worker's own consumer
  group and never scales past the topics' partitions;
- a PrometheusRule holds exactly files/alerts.yml, a dashboard ConfigMap exactly
  files/lprx-dashboard.json;
- the ConfigMap holds only Settings fields, and they load into ``Settings``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "deploy" / "helm" / "lprx"
sys.path.insert(0, str(REPO))  # this checkout's pipelines, not an installed copy
STAGE_ORDER = ("ocr", "normalize", "match", "share", "store")
# component -> the principals whose Secrets its pods may mount
PRINCIPAL_SECRETS = {
    "pipeline": {"worker"},
    "store": {"worker"},
    "ocr": {"ocr", "worker"},
    "ingest": {"ingest"},
    "api": {"api", "custodian", "apiTls"},
    "audit-checkpoint": {"auditCheckpoint", "auditSigning"},
    "setup": {"setup", "worker", "ocr", "ingest", "api", "custodian", "auditCheckpoint"},
}
SIGNING_KEY_PATH = "audit/checkpoint-signing.key"
# The checkpoint's own secret files (Kafka's only with SASL_SSL): never the admin's.
CHECKPOINT_FILES = {"cassandra/lprx_checkpoint.password", SIGNING_KEY_PATH}
CHECKPOINT_KAFKA_FILE = "kafka/lprx-checkpoint.password"
# The API's own secret files under /run/lprx/secrets (Kafka's only with SASL_SSL).
API_FILES = {"cassandra/lprx_api.password", "cassandra/lprx_custodian.password", "api/totp.key"}
API_TLS_FILES = {"api/tls.crt", "api/tls.key"}
SECRET_WORDS = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)


def pod_template(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "Job"):
        return dict(doc["spec"]["template"])
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"])
    return None


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    template = pod_template(doc)
    return None if template is None else dict(template["spec"])


def secret_files(spec: dict[str, Any]) -> dict[str, str]:
    """path under /run/lprx/secrets -> the Secret it comes from."""
    files: dict[str, str] = {}
    for volume in spec.get("volumes", []):
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                for item in source["secret"].get("items", []):
                    files[item["path"]] = source["secret"]["name"]
    return files


def check_api(name: str, spec: dict[str, Any], config: dict[str, str], problems: list[str]) -> None:
    files = set(secret_files(spec))
    tls = config.get("LPRX_API_TLS") == "true"
    wanted = API_FILES | (API_TLS_FILES if tls else set())
    if config.get("LPRX_KAFKA_SECURITY_PROTOCOL") == "SASL_SSL":
        wanted |= {"kafka/lprx-api.password"}
    if files != wanted:
        problems.append(f"{name}: secret files {sorted(files)} != {sorted(wanted)}")
    (api,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in api.get("env", [])}
    if "LPRX_CASSANDRA_PASSWORD_FILE" in env or env.get("LPRX_CACHE_DIR") != "/run/lprx":
        # One password file would log the custodian's session in with lprx_api's password.
        problems.append(f"{name}: Cassandra passwords must be found by role under /run/lprx")
    scheme = "HTTPS" if tls else "HTTP"
    ports = {p["name"]: p["containerPort"] for p in api.get("ports", [])}
    if str(ports.get("api")) != config.get("LPRX_API_PORT"):
        problems.append(f"{name}: container port {ports} is not LPRX_API_PORT")
    api_paths = {"livenessProbe": "/health", "readinessProbe": "/readyz", "startupProbe": "/health"}
    for probe, path in api_paths.items():
        get = api.get(probe, {}).get("httpGet", {})
        if (get.get("path"), get.get("port"), get.get("scheme")) != (path, "api", scheme):
            problems.append(f"{name}: {probe} is {get}, not {scheme} {path} on the API port")


def check_checkpoint(
    doc: dict[str, Any], spec: dict[str, Any], config: dict[str, str], problems: list[str]
) -> None:
    name = doc["metadata"]["name"]
    if doc["spec"].get("concurrencyPolicy") != "Forbid":
        problems.append(f"{name}: two checkpoint runs may overlap (concurrencyPolicy)")
    if spec["containers"][0].get("args") != ["audit", "checkpoint"]:
        problems.append(f"{name}: does not run `lprx audit checkpoint`")
    files = set(secret_files(spec))
    if SIGNING_KEY_PATH not in files:
        problems.append(f"{name}: does not mount the signing key at {SIGNING_KEY_PATH}")
    if files - {CHECKPOINT_KAFKA_FILE} != CHECKPOINT_FILES:
        problems.append(f"{name}: secret files {sorted(files)}, not its own principal's "
                        f"{sorted(CHECKPOINT_FILES | {CHECKPOINT_KAFKA_FILE})}")  # fmt: skip
    if config.get("LPRX_AUDIT_SIGNING_KEY_REQUIRED") != "true":
        problems.append(f"{name}: a missing signing key would be made anew")


def mounted_secrets(spec: dict[str, Any]) -> set[str]:
    """The Secrets a pod mounts, but the CA certificates'."""
    mounted = set(secret_files(spec).values())
    for volume in spec.get("volumes", []):
        if "secret" in volume and not volume["name"].endswith("-ca"):
            mounted.add(volume["secret"]["secretName"])
    return mounted


def check_workload(
    doc: dict[str, Any], config: dict[str, str], credentials: dict[str, str], problems: list[str]
) -> None:
    """The API's and the audit checkpoint's own rules; the signing key in no other pod."""
    template = pod_template(doc)
    if template is None:
        return
    spec, name = dict(template["spec"]), doc["metadata"]["name"]
    key_mounted = credentials.get("auditSigning") in mounted_secrets(
        spec
    ) or SIGNING_KEY_PATH in secret_files(spec)
    if key_mounted and doc["kind"] != "CronJob":
        problems.append(f"{name}: mounts the checkpoint signing key (the CronJob's only)")
    if doc["kind"] == "CronJob":
        check_checkpoint(doc, spec, config, problems)
    elif template["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "api":
        check_api(name, spec, config, problems)


def check_pod(doc: dict[str, Any], credentials: dict[str, str], problems: list[str]) -> None:
    template = pod_template(doc)
    if template is None:
        return
    spec = dict(template["spec"])
    name = doc["metadata"]["name"]
    labels = template["metadata"].get("labels", {})
    component = labels.get("app.kubernetes.io/component", "")
    if (
        doc["kind"] in ("Deployment", "CronJob")
        and labels.get("app.kubernetes.io/part-of") != "lprx"
    ):
        problems.append(f"{name}: pods lack app.kubernetes.io/part-of=lprx (alerts select it)")
    containers = spec["containers"] + spec.get("initContainers", [])
    for container in containers:
        for env in container.get("env", []):
            if (
                SECRET_WORDS.search(env["name"])
                and "value" in env
                and not env["name"].endswith("_FILE")
            ):
                problems.append(f"{name}: {env['name']} has a plain value")
    allowed = {credentials[p] for p in PRINCIPAL_SECRETS.get(component, set())}
    mounted = mounted_secrets(spec)
    if mounted - allowed:
        problems.append(f"{name}: mounts Secrets {sorted(mounted - allowed)} of other principals")
    if component in PRINCIPAL_SECRETS and not mounted:
        problems.append(f"{name}: mounts no credentials")
    if mounted and "secrets" not in [c["name"] for c in spec.get("initContainers", [])]:
        problems.append(f"{name}: no init container copies its secret files 0600")
    if component in ("pipeline", "store", "ocr"):
        (worker,) = spec["containers"]
        paths = {
            probe: worker.get(probe, {}).get("httpGet", {}).get("path")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe")
        }
        if paths != {
            "livenessProbe": "/livez",
            "readinessProbe": "/readyz",
            "startupProbe": "/livez",
        }:
            problems.append(f"{name}: worker probes are {paths}")


def stages_of(deployment: dict[str, Any]) -> list[str]:
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    stages = args[args.index("--stages") + 1].split(",")
    return [s for s in STAGE_ORDER if s in stages]


def check_scaled_object(
    doc: dict[str, Any], docs: list[dict[str, Any]], config: dict[str, str], problems: list[str]
) -> None:
    target = doc["spec"]["scaleTargetRef"]["name"]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    if target not in deployments:
        problems.append(f"ScaledObject {doc['metadata']['name']}: no Deployment {target}")
        return
    deployment = deployments[target]
    if "replicas" in deployment["spec"]:
        problems.append(f"{target}: sets replicas although KEDA scales it")
    partitions = int(config["LPRX_TOPIC_PARTITIONS"])
    if doc["spec"]["maxReplicaCount"] > partitions:
        problems.append(
            f"{target}: maxReplicaCount {doc['spec']['maxReplicaCount']} > {partitions} partitions"
        )
    group = f"{config['LPRX_TOPIC_PREFIX']}-{'-'.join(stages_of(deployment))}"
    (trigger,) = doc["spec"]["triggers"]
    if f'group="{group}"' not in trigger["metadata"]["query"]:
        problems.append(f"{target}: lag query {trigger['metadata']['query']!r} is not of {group}")


def check_config(config: dict[str, str], problems: list[str]) -> None:
    from pipelines.settings import Settings

    fields = {f"LPRX_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(set(config) - fields)
    if unknown:
        problems.append(f"ConfigMap: not Settings fields: {unknown}")
        return
    for key in [k for k in os.environ if k.startswith("LPRX_")]:
        del os.environ[key]
    os.environ.update(config)
    settings = Settings(_env_file=None)
    pod_address = "0.0.0.0"  # noqa: S104 (what the pods must listen on)
    hosts = (settings.ingest_host, settings.metrics_host, settings.api_host)
    if any(host != pod_address for host in hosts):
        problems.append("ConfigMap: ingest, metrics or API not listening on the pod's address")
    if not settings.audit_signing_key_required:
        problems.append("ConfigMap: LPRX_AUDIT_SIGNING_KEY_REQUIRED does not load as true")


def check(path: Path, expected: Counter[str], credentials: dict[str, str]) -> list[str]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    problems: list[str] = []
    kinds = Counter(d["kind"] for d in docs)
    if kinds != expected:
        problems.append(
            f"kinds {dict(sorted(kinds.items()))} != expected {dict(sorted(expected.items()))}"
        )
    if kinds["Secret"]:
        problems.append("the chart rendered a Secret: it must only reference them")
    configs = [
        d for d in docs if d["kind"] == "ConfigMap" and "LPRX_TOPIC_PREFIX" in d.get("data", {})
    ]
    config: dict[str, str] = configs[0]["data"] if configs else {}
    if config:
        check_config(config, problems)
    for doc in docs:
        check_pod(doc, credentials, problems)
        check_workload(doc, config, credentials, problems)
    # A stage in two worker kinds would run in two apps, each storing (or alerting) all.
    placed = Counter(
        stage for d in docs if d["kind"] == "Deployment" and "--stages" in str(d)
        for stage in stages_of(d)
    )  # fmt: skip
    doubled = sorted(stage for stage, n in placed.items() if n > 1)
    if doubled:
        problems.append(f"stages {doubled} run in more than one worker Deployment")
    for doc in docs:
        kind = doc["kind"]
        if kind == "ScaledObject" and config:
            check_scaled_object(doc, docs, config, problems)
        elif kind == "PrometheusRule":
            rules = yaml.safe_load((CHART / "files" / "alerts.yml").read_text())
            if doc["spec"]["groups"] != rules["groups"]:
                problems.append("PrometheusRule differs from files/alerts.yml")
        elif kind == "ConfigMap" and "lprx-dashboard.json" in doc.get("data", {}):
            dashboard = json.loads((CHART / "files" / "lprx-dashboard.json").read_text())
            if json.loads(doc["data"]["lprx-dashboard.json"]) != dashboard:
                problems.append("dashboard ConfigMap differs from files/lprx-dashboard.json")
        elif kind == "ServiceMonitor" and "app.kubernetes.io/part-of" not in doc["spec"].get(
            "podTargetLabels", []
        ):
            problems.append("ServiceMonitor does not copy app.kubernetes.io/part-of")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("render", type=Path)
    parser.add_argument("--expect", action="append", default=[], help="Kind=count")
    parser.add_argument(
        "--credentials",
        default="worker=lprx-worker,ocr=lprx-ocr,ingest=lprx-ingest,api=lprx-api,"
        "custodian=lprx-custodian,apiTls=lprx-api-tls,auditSigning=lprx-audit-signing,"
        "setup=lprx-admin",
        help="principal=secretName,... as in the values",
    )
    args = parser.parse_args()
    expected: Counter[str] = Counter()
    for item in args.expect:
        kind, count = item.split("=")
        expected[kind] = int(count)
    credentials = dict(pair.split("=") for pair in args.credentials.split(","))
    problems = check(args.render, expected, credentials)
    for problem in problems:
        print(f"{args.render.name}: {problem}")
    if not problems:
        print(f"{args.render.name}: {sum(expected.values())} manifests as expected")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
