"""The Helm chart, rendered by the real helm with three values files: every manifest valid against
the Kubernetes 1.30 schemas (strict), and the properties a platform team reviews for."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from campaignreports.ingest.settings import IngestSettings
from campaignreports.service import LIVENESS
from campaignreports.settings import describe
from campaignreports.stack.embedded import EmbeddedSettings

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy/helm/campaign-reports"
HELM = os.environ.get("TEST_HELM_BIN", str(ROOT / ".tools/helm/helm"))
KUBERNETES = "1.30.0"
VALUES = {
    "default": [],
    "production": [CHART / "ci/production-values.yaml"],
    "cluster": [CHART / "ci/cluster-values.yaml"],
}
WORKLOADS = {"Deployment", "StatefulSet", "Job", "Pod"}
# The Prometheus Operator's resources: not in the Kubernetes schemas (checked on their own below).
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def helm_template(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELM, "template", "release", str(CHART), "--kube-version", KUBERNETES, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )


@cache
def rendered(name: str) -> tuple[dict, ...]:
    arguments = [f"--values={path}" for path in VALUES[name]]
    result = helm_template(*arguments)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def pod_spec(manifest: dict) -> dict:
    return manifest["spec"] if manifest["kind"] == "Pod" else manifest["spec"]["template"]["spec"]


def of_kind(name: str, kind: str) -> list[dict]:
    return [m for m in rendered(name) if m["kind"] == kind]


@pytest.mark.parametrize("name", VALUES)
def test_every_manifest_is_valid_for_kubernetes_strictly(name: str) -> None:
    manifests = rendered(name)
    assert len(manifests) >= 15
    for manifest in manifests:
        if manifest["kind"] not in OPERATOR_KINDS:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


@pytest.mark.parametrize("name", VALUES)
def test_every_container_is_probed_limited_and_locked_down(name: str) -> None:
    for manifest in rendered(name):
        if manifest["kind"] not in WORKLOADS:
            continue
        spec = pod_spec(manifest)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            where = f"{manifest['metadata']['name']}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), where
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), where
            if manifest["kind"] in {"Deployment", "StatefulSet"}:
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    assert container[probe]["grpc"]["port"] == container["ports"][0]["containerPort"], where
                # Liveness asks for the name that stays SERVING while the process runs; readiness
                # for the overall status, which follows its dependencies.
                assert container["livenessProbe"]["grpc"]["service"] == LIVENESS, where
                assert "service" not in container["readinessProbe"]["grpc"], where
                grace = spec["terminationGracePeriodSeconds"]
                sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
                settings = next(m for m in rendered(name) if m["kind"] == "ConfigMap")["data"]
                assert grace > sleep + int(settings["CR_SHUTDOWN_GRACE_SECONDS"]), where


@pytest.mark.parametrize("name", VALUES)
def test_availability_objects_are_present(name: str) -> None:
    workloads = {
        m["metadata"]["name"].rsplit("-", 1)[1]: m
        for m in rendered(name)
        if m["kind"] in {"Deployment", "StatefulSet"}
    }
    assert set(workloads) == {"ingest", "query", "aggregator"}
    assert workloads["aggregator"]["kind"] == "StatefulSet"
    budgets = {
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for m in of_kind(name, "PodDisruptionBudget")
    }
    assert budgets == {"ingest", "query", "aggregator"}
    scaled = {
        m["spec"]["scaleTargetRef"]["name"].rsplit("-", 1)[1]
        for m in of_kind(name, "HorizontalPodAutoscaler")
    }
    expected = {"query"} if name == "cluster" else {"ingest", "query"}
    assert scaled == expected
    for component in ("ingest", "query"):
        deployment = workloads[component]
        assert ("replicas" in deployment["spec"]) == (component not in scaled)
        assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    services = {m["metadata"]["name"]: m for m in of_kind(name, "Service")}
    assert services["release-campaign-reports-ingest-headless"]["spec"]["clusterIP"] == "None"
    assert services["release-campaign-reports-query"]["spec"]["ports"][0]["name"] == "grpc"
    assert of_kind(name, "NetworkPolicy") and of_kind(name, "ServiceAccount") and of_kind(name, "ConfigMap")


@pytest.mark.parametrize("name", VALUES)
def test_the_migration_is_a_hook_and_the_health_test_checks_both_services(name: str) -> None:
    (job,) = of_kind(name, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["python", "-m", "campaignreports.aggregator", "migrate"]
    (test_pod,) = of_kind(name, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    command = pod_spec(test_pod)["containers"][0]["command"]
    assert command[:3] == ["python", "-m", "campaignreports.healthcheck"]
    assert any(":50051" in part for part in command) and any(":50052" in part for part in command)


def _known_variables() -> set[str]:
    known = {variable for cls in (EmbeddedSettings, IngestSettings) for variable, _, _ in describe(cls)}
    return known | {"OTEL_EXPORTER_OTLP_ENDPOINT"}


@pytest.mark.parametrize("name", VALUES)
def test_settings_are_real_variables_and_no_secret_is_inlined(name: str) -> None:
    known = _known_variables()
    secret_variables = {
        f.metadata["env"]
        for cls in (EmbeddedSettings, IngestSettings)
        for f in dataclasses.fields(cls)
        if f.metadata.get("secret")
    }
    assert not of_kind(name, "Secret"), "the chart references existing Secrets; it never creates one"
    configmap = of_kind(name, "ConfigMap")[0]["data"]
    assert set(configmap) <= known, set(configmap) - known
    assert not set(configmap) & secret_variables
    for manifest in rendered(name):
        if manifest["kind"] not in WORKLOADS:
            continue
        for container in pod_spec(manifest)["containers"]:
            for variable in container.get("env", []):
                assert variable["name"] in known, variable["name"]
                if variable["name"] in secret_variables:
                    assert "valueFrom" in variable and "value" not in variable, variable
    text = "\n".join(yaml.safe_dump(m) for m in rendered(name))
    assert not re.search(r"(?i)password\s*[:=]\s*\S+@", text)


def test_production_values_turn_on_tls_mtls_and_nats_credentials() -> None:
    configmap = of_kind("production", "ConfigMap")[0]["data"]
    assert configmap["CR_TLS_CLIENT_CA_FILE"].endswith("ca.crt")
    assert configmap["CR_NATS_CREDS_FILE"].endswith("nats.creds")
    assert configmap["CR_API_KEYS_FILE"].endswith("keys.toml")
    assert configmap["CR_STREAM_REPLICAS"] == "3"
    assert of_kind("cluster", "ConfigMap")[0]["data"]["CR_CLICKHOUSE_CLUSTER"] == "reports"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("ingest.replicas=-1", "/ingest/replicas"),
        ("logLevel=VERBOSE", "/logLevel"),
        ("query.port=70000", "/query/port"),
        ("unknownKey=1", "additional properties 'unknownKey'"),
        ("nats.urls=http://nats:4222", "/nats/urls"),
        ("clickhouse.dsn=http://user:pw@clickhouse:8123", "/clickhouse/dsn"),
        ("auth.existingSecret=", "auth.existingSecret"),
        ("aggregator.replicas=9", "aggregator.replicas must not exceed nats.partitions"),
        ("terminationGracePeriodSeconds=10", "terminationGracePeriodSeconds must exceed"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(setting: str, message: str) -> None:
    result = helm_template("--set", setting)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_the_image_runs_the_commands_the_tests_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.MULTILINE)
    assert dockerfile.count("FROM ") == 3  # multi-stage: the chart library, the wheel, the image
    assert "COPY services/web/package.json" in dockerfile  # the chart library as `make` pins it
    commands = {
        tuple(container["command"])
        for manifest in rendered("default")
        if manifest["kind"] in WORKLOADS
        for container in pod_spec(manifest)["containers"]
    }
    modules = {command[2] for command in commands}
    assert {"campaignreports.ingest", "campaignreports.query", "campaignreports.aggregator"} <= modules
    standalone = (ROOT / "tests/test_standalone.py").read_text()
    for module in ("campaignreports.ingest", "campaignreports.query", "campaignreports.aggregator"):
        assert f'"{module}"' in standalone, f"the tests do not run {module} the way the image does"


def test_production_values_scrape_every_pod_and_alert() -> None:
    """The metrics port on every pod and headless Service, a ServiceMonitor selecting them by
    that port, a PrometheusRule, and JSON logs; the default values add no operator resource."""
    assert not [m for m in rendered("default") if m["kind"] in OPERATOR_KINDS]
    for workload in of_kind("production", "Deployment") + of_kind("production", "StatefulSet"):
        container = pod_spec(workload)["containers"][0]
        assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
        assert {"name": "CR_METRICS_LISTEN", "value": "0.0.0.0:9464"} in container["env"]
    headless = [s for s in of_kind("production", "Service") if s["spec"].get("clusterIP") == "None"]
    assert len(headless) == 3 and all(
        any(p["name"] == "metrics" for p in s["spec"]["ports"]) for s in headless
    )
    (monitor,) = of_kind("production", "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (rule,) = of_kind("production", "PrometheusRule")
    stale = next(
        r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == "CampaignReportsStale"
    )
    assert stale["expr"].endswith("> 60")
    (config,) = of_kind("production", "ConfigMap")
    assert config["data"]["CR_LOG_FORMAT"] == "json"
