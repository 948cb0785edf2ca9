"""Checks one `helm template` render of the lprx chart (deploy/validate.sh runs it).

    python deploy/check_manifests.py RENDER.yaml --expect Deployment=3 --expect Job=1 ...

Fails (exit 1, one line per problem) unless the render holds exactly the expected number
of each kind, and:
- no Secret is rendered and no env var that names a password, token or secret has a
  plain value;
- each pod mounts the Secrets of its own principal only (setup: every service's, since
  it sets their passwords), as files, copied by the ``secrets`` init container;
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
    "ocr": {"ocr", "worker"},
    "ingest": {"ingest"},
    "setup": {"setup", "worker", "ocr", "ingest", "api"},
}
SECRET_WORDS = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "Job"):
        return dict(doc["spec"]["template"]["spec"])
    return None


def check_pod(  # noqa: PLR0912 (one check per rule the docstring lists)
    doc: dict[str, Any], credentials: dict[str, str], problems: list[str]
) -> None:
    spec = pod_spec(doc)
    if spec is None:
        return
    name = doc["metadata"]["name"]
    labels = doc["spec"]["template"]["metadata"].get("labels", {})
    component = labels.get("app.kubernetes.io/component", "")
    if doc["kind"] == "Deployment" and labels.get("app.kubernetes.io/part-of") != "lprx":
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
    mounted: set[str] = set()
    for volume in spec.get("volumes", []):
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                mounted.add(source["secret"]["name"])
        if "secret" in volume and not volume["name"].endswith("-ca"):
            mounted.add(volume["secret"]["secretName"])
    if mounted - allowed:
        problems.append(f"{name}: mounts Secrets {sorted(mounted - allowed)} of other principals")
    if component in PRINCIPAL_SECRETS and not mounted:
        problems.append(f"{name}: mounts no credentials")
    if mounted and "secrets" not in [c["name"] for c in spec.get("initContainers", [])]:
        problems.append(f"{name}: no init container copies its secret files 0600")
    if component in ("pipeline", "ocr"):
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
    if settings.ingest_host != pod_address or settings.metrics_host != pod_address:
        problems.append("ConfigMap: ingest or metrics not listening on the pod's address")


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
        default="worker=lprx-worker,ocr=lprx-ocr,ingest=lprx-ingest,api=lprx-api,setup=lprx-admin",
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
