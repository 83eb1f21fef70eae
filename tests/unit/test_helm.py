"""The Helm chart ``helm/runbook-router``: lint, render, validate, and compare with the sources.

``helm lint`` and ``helm template`` run through the Helm engine that PyPI's
``helm-python-sdk`` bundles (``libhelm_c``, Helm's Go SDK; no ``helm`` binary). Rendered
built-in kinds are validated strictly with ``kubernetes-validate`` against the newest
Kubernetes version it ships; the Prometheus Operator kinds (ServiceMonitor, PrometheusRule),
which it does not know, are checked here in Python. Without either package the Helm tests
skip with the reason; under REQUIRE_REAL_SERVICES=1 (CI) they fail instead.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from app.config import load_config
from tests.conftest import ROOT
from tests.services import REQUIRED

CHART = ROOT / "helm" / "runbook-router"
RELEASE, NAMESPACE = "rr", "monitoring"
FULLNAME = "rr-runbook-router"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
PG_SECRET, TOKENS_SECRET = "runbook-router-db", "runbook-router-tokens"
HOST = "runbook-router.example.com"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# No image is published: every install names the one it pushed (image.repository is required).
REPOSITORY = "registry.example.com/ops/runbook-router"
SQLITE: dict[str, Any] = {"image": {"repository": REPOSITORY}}
POSTGRES: dict[str, Any] = {
    **SQLITE,
    "replicaCount": 3,
    "database": {"existingSecret": PG_SECRET, "urlKey": "url"},
    "auth": {"existingSecret": TOKENS_SECRET},
}
EVERYTHING: dict[str, Any] = {
    **POSTGRES,
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "hosts": [{"host": HOST, "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": [{"secretName": "runbook-router-tls", "hosts": [HOST]}],
    },
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "dashboards": {"enabled": True},
}
SCENARIOS = {"sqlite": SQLITE, "postgres": POSTGRES, "everything": EVERYTHING}


_MISSING: dict[str, str] = {}


def _optional(module: str, package: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except Exception as error:  # ImportError, or the bundled native library failing to load
        _MISSING[package] = f"{type(error).__name__}: {error}"
        return None


helm = _optional("helm_python", "helm-python-sdk")
kubernetes_validate = _optional("kubernetes_validate", "kubernetes-validate")


def _need(module: ModuleType | None, package: str) -> ModuleType:
    if module is not None:
        return module
    message = (
        f"{package} unavailable ({_MISSING.get(package)}): pip install -e '.[dev]' (make test does)"
    )
    if REQUIRED:
        pytest.fail(message + " [REQUIRE_REAL_SERVICES=1]", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def engine() -> ModuleType:
    return _need(helm, "helm-python-sdk")


@pytest.fixture
def validator() -> ModuleType:
    return _need(kubernetes_validate, "kubernetes-validate")


def kube_version() -> str:
    """The newest Kubernetes version kubernetes-validate ships schemas for, e.g. 1.37.0."""
    version: str = _need(kubernetes_validate, "kubernetes-validate").latest_version()
    return version


@cache
def _render(values_json: str) -> dict[str, str]:
    with _need(helm, "helm-python-sdk").Chart.load(CHART) as chart:
        rendered: dict[str, str] = chart.render(
            json.loads(values_json), name=RELEASE, namespace=NAMESPACE, is_install=True
        )
    return rendered


def render(values: dict[str, Any]) -> dict[str, str]:
    """``helm template rr helm/runbook-router -n monitoring`` with these values."""
    return _render(json.dumps(values, sort_keys=True))


@cache
def _manifests(values_json: str) -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    for name, text in sorted(_render(values_json).items()):
        if not name.endswith("NOTES.txt"):
            docs.extend(d for d in yaml.load_all(text, Loader=LOADER) if d)
    return tuple(docs)


def manifests(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The rendered objects (parsed once per set of values: do not modify them)."""
    return list(_manifests(json.dumps(values, sort_keys=True)))


def notes(values: dict[str, Any]) -> str:
    return render(values)[f"{CHART.name}/templates/NOTES.txt"]


def by_kind(values: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests(values) if d["kind"] == kind]


def one(values: dict[str, Any], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in by_kind(values, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def pod_spec(values: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = one(values, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(values: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod_spec(values)["containers"] if c["name"] == "runbook-router")


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def is_hook(doc: dict[str, Any]) -> bool:
    return "helm.sh/hook" in doc["metadata"].get("annotations", {})


def with_values(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(base)
    values.update(changes)
    return values


def source_files(folder: str, pattern: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / folder).glob(pattern))}


# --- the copies under files/ ---------------------------------------------------------------


def _sync_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("helm_sync_files", ROOT / "helm/sync-files.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chart_copies_match_their_sources() -> None:
    problems = _sync_module().drift()
    assert not problems, "chart copies drifted, run helm/sync-files.py: " + "; ".join(problems)


def test_sync_covers_every_embedded_source() -> None:
    expected = {p.relative_to(CHART / "files").as_posix() for p in _sync_module().expected()}
    assert {f"alert_rules/{n}" for n in source_files("alert_rules", "*.yml")} <= expected
    assert {f"dashboards/{n}" for n in source_files("grafana/dashboards", "*.json")} <= expected
    assert {f"runbooks/{n}" for n in source_files("runbook_templates", "*.md.j2")} <= expected
    assert "config/runbook-router.yaml" in expected


# --- lint, schema, rendering ---------------------------------------------------------------


def test_validating_against_a_current_kubernetes(validator: ModuleType) -> None:
    major, minor = (int(part) for part in kube_version().split(".")[:2])
    assert (major, minor) >= (1, 30), kube_version()


def test_helm_lint_passes_strict(engine: ModuleType) -> None:
    for values in SCENARIOS.values():
        report = engine.lint(CHART, values, strict=True, kube_version=f"v{kube_version()}")
        findings = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [], report
        assert findings == [], findings


@pytest.mark.parametrize("values", [{"replicaCount": "three"}, {"replicas": 3}])
def test_schema_rejects_bad_values(engine: ModuleType, values: dict[str, Any]) -> None:
    report = engine.lint(CHART, values)
    assert report["errors"], f"helm lint accepted {values}"
    with engine.Chart.load(CHART) as chart, pytest.raises(engine.HelmValuesError, match="schema"):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"replicaCount": 3}, "replicaCount"),  # SQLite serves one process
        ({"migrations": {"mode": "hook"}}, "migrations/mode"),  # a Job cannot reach the PVC
        ({"logFormat": "text"}, "logFormat"),
        ({"publicUrl": "runbook-router.example.com"}, "publicUrl"),
    ],
)
def test_schema_rejects_unsafe_combinations(
    engine: ModuleType, values: dict[str, Any], field: str
) -> None:
    with engine.Chart.load(CHART) as chart, pytest.raises(engine.HelmValuesError, match=field):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_builtin_manifest_validates(
    engine: ModuleType, validator: ModuleType, scenario: str
) -> None:
    docs = manifests(SCENARIOS[scenario])
    assert docs
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            validator.validate(doc, kube_version(), strict=True)
        except validator.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            pytest.fail(
                f"{scenario}: {where} invalid for Kubernetes {kube_version()}: {path}: {error}"
            )
        assert doc["metadata"]["name"].startswith(FULLNAME), where


def test_rendered_kinds_per_mode(engine: ModuleType) -> None:
    kinds = {
        name: sorted(d["kind"] for d in manifests(values)) for name, values in SCENARIOS.items()
    }
    sqlite = [
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
    ]
    assert kinds["sqlite"] == sorted([*sqlite, "Secret", "Service"])
    # PostgreSQL with existing Secrets: no PVC, no generated Secret, a migration Job.
    assert kinds["postgres"] == sorted(
        ["ConfigMap", "ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Service"]
    )
    rules = len(source_files("alert_rules", "*.yml"))
    assert kinds["everything"] == sorted(
        [*kinds["postgres"], "ConfigMap", "Ingress", "ServiceMonitor"] + ["PrometheusRule"] * rules
    )


# --- the Deployment ------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_deployment_is_hardened(engine: ModuleType, scenario: str) -> None:
    values = SCENARIOS[scenario]
    spec = pod_spec(values)
    c = container(values)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["resources"]["requests"]["cpu"]
    assert c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    pod_sc = spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for each in spec["containers"] + spec.get("initContainers", []):
        sc = each["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] == 10001
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert {"name": "tmp", "mountPath": "/tmp"} in each["volumeMounts"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes["tmp"]
    assert spec["automountServiceAccountToken"] is False
    # A Service named runbook-router would otherwise inject RUNBOOK_ROUTER_PORT=tcp://...
    assert spec["enableServiceLinks"] is False


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_environment_and_secret_references(engine: ModuleType, scenario: str) -> None:
    values = SCENARIOS[scenario]
    env = env_of(container(values))
    secret = values.get("auth", {}).get("existingSecret") or f"{FULLNAME}-tokens"
    for name, key in [
        ("RUNBOOK_ROUTER_WEBHOOK_TOKENS", "webhook-tokens"),
        ("RUNBOOK_ROUTER_ADMIN_TOKEN", "admin-token"),
        ("RUNBOOK_ROUTER_SESSION_SECRET", "session-secret"),
    ]:
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret, key)
        assert "value" not in env[name]
    fixed = {name: e.get("value") for name, e in env.items() if "value" in e}
    assert fixed["RUNBOOK_ROUTER_CONFIG"] == "/etc/runbook-router/runbook-router.yaml"
    assert fixed["RUNBOOK_ROUTER_CATALOG_DIR"] == "/etc/runbook-router/runbooks"
    assert fixed["RUNBOOK_ROUTER_LOG_FORMAT"] == "json"
    assert fixed["RUNBOOK_ROUTER_HOST"] == "0.0.0.0"
    assert fixed["RUNBOOK_ROUTER_PORT"] == "8080"
    assert fixed["RUNBOOK_ROUTER_DATA_DIR"]


def test_sqlite_mode_has_one_replica_and_a_data_volume(engine: ModuleType) -> None:
    deployment = one(SQLITE, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec = pod_spec(SQLITE)
    volumes = {v["name"]: v for v in spec["volumes"]}
    claim = one(SQLITE, "PersistentVolumeClaim")
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mounts = {m["name"]: m for m in container(SQLITE)["volumeMounts"]}
    assert mounts["data"]["mountPath"] == "/var/lib/runbook-router"
    env = env_of(container(SQLITE))
    db = "sqlite:////var/lib/runbook-router/runbook-router.db"
    assert env["RUNBOOK_ROUTER_DATABASE_URL"]["value"] == db
    assert env["RUNBOOK_ROUTER_DATA_DIR"]["value"] == "/var/lib/runbook-router"
    # Migrations in an init container on the same volume; no hook Job.
    (init,) = spec["initContainers"]
    assert init["args"] == ["migrate"]
    assert env_of(init)["RUNBOOK_ROUTER_DATABASE_URL"]["value"] == db
    assert {"name": "data", "mountPath": "/var/lib/runbook-router"} in init["volumeMounts"]
    assert by_kind(SQLITE, "Job") == []
    # Tokens: a generated Secret, kept across upgrades.
    secret = one(SQLITE, "Secret")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(secret["data"]) == {"webhook-tokens", "admin-token", "session-secret"}


def test_sqlite_without_persistence_uses_an_empty_dir(engine: ModuleType) -> None:
    values = with_values(SQLITE, persistence={"enabled": False})
    volumes = {v["name"]: v for v in pod_spec(values)["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert by_kind(values, "PersistentVolumeClaim") == []


def test_postgres_mode_scales_without_a_data_volume(engine: ModuleType) -> None:
    deployment = one(POSTGRES, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    spec = pod_spec(POSTGRES)
    assert "data" not in {v["name"] for v in spec["volumes"]}
    assert "initContainers" not in spec
    assert by_kind(POSTGRES, "PersistentVolumeClaim") == []
    assert by_kind(POSTGRES, "Secret") == []  # both Secrets exist already
    url_ref = {"secretKeyRef": {"name": PG_SECRET, "key": "url"}}
    assert env_of(container(POSTGRES))["RUNBOOK_ROUTER_DATABASE_URL"]["valueFrom"] == url_ref
    # Migrations once per install/upgrade, before the new pods.
    job = one(POSTGRES, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    job_pod = job["spec"]["template"]["spec"]
    (migrate,) = job_pod["containers"]
    assert migrate["args"] == ["migrate"]
    assert env_of(migrate)["RUNBOOK_ROUTER_DATABASE_URL"]["valueFrom"] == url_ref
    assert migrate["securityContext"]["readOnlyRootFilesystem"] is True
    assert job_pod["restartPolicy"] == "Never"
    # The Job's pods are not selected by the Service, the Deployment or the PDB.
    selector = deployment["spec"]["selector"]["matchLabels"]
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= job_labels.items()
    assert one(POSTGRES, "Service")["spec"]["selector"] == selector
    assert one(POSTGRES, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector


def test_postgres_mode_can_migrate_in_an_init_container(engine: ModuleType) -> None:
    values = with_values(POSTGRES, migrations={"mode": "initContainer"})
    (init,) = pod_spec(values)["initContainers"]
    assert init["args"] == ["migrate"]
    assert "data" not in {m["name"] for m in init["volumeMounts"]}
    assert by_kind(values, "Job") == []


# --- configuration and runbooks ------------------------------------------------------------


def test_config_and_runbooks_configmaps_equal_the_sources(engine: ModuleType) -> None:
    config = one(SQLITE, "ConfigMap", f"{FULLNAME}-config")
    cluster_config = _sync_module().cluster_config
    assert config["data"] == {
        name: cluster_config(text)
        for name, text in source_files("config", "runbook-router.yaml").items()
    }
    runbooks = one(SQLITE, "ConfigMap", f"{FULLNAME}-runbooks")
    assert runbooks["data"] == source_files("runbook_templates", "*.md.j2")
    mounts = {m["name"]: m for m in container(SQLITE)["volumeMounts"]}
    assert mounts["config"] == {
        "name": "config",
        "mountPath": "/etc/runbook-router",
        "readOnly": True,
    }
    volumes = {v["name"]: v for v in pod_spec(SQLITE)["volumes"]}
    sources = {
        s["configMap"]["name"]: s["configMap"] for s in volumes["config"]["projected"]["sources"]
    }
    assert sources[f"{FULLNAME}-config"]["items"] == [
        {"key": "runbook-router.yaml", "path": "runbook-router.yaml"}
    ]
    assert sources[f"{FULLNAME}-runbooks"]["items"] == [
        {"key": name, "path": f"runbooks/{name}"} for name in sorted(runbooks["data"])
    ]


def test_runbooks_and_config_change_without_a_new_image(engine: ModuleType) -> None:
    values = with_values(
        SQLITE,
        config={"content": "timezone: Europe/Berlin\n"},
        runbooks={"exclude": ["pdf-404.md.j2"], "files": {"checkout-5xx.md.j2": "---\n"}},
    )
    runbooks = one(values, "ConfigMap", f"{FULLNAME}-runbooks")["data"]
    assert "pdf-404.md.j2" not in runbooks
    assert runbooks["checkout-5xx.md.j2"] == "---\n"
    config = one(values, "ConfigMap", f"{FULLNAME}-config")["data"]
    assert config == {"runbook-router.yaml": "timezone: Europe/Berlin\n"}
    before = one(SQLITE, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    after = one(values, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]
    assert before["checksum/runbooks"] != after["checksum/runbooks"]
    assert (
        one(values, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
        == (one(SQLITE, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"])
    )


def test_chart_config_disables_enrichment_instead_of_pointing_at_the_pod(
    engine: ModuleType, tmp_path: Path
) -> None:
    """The repository's file points enrichment at 127.0.0.1: in a pod, the pod itself."""
    text = one(SQLITE, "ConfigMap", f"{FULLNAME}-config")["data"]["runbook-router.yaml"]
    assert "127.0.0.1" not in text
    assert "localhost" not in text
    assert "Enrichment is disabled in the Helm chart" in text
    (tmp_path / "runbook-router.yaml").write_text(text)
    chart = load_config(tmp_path / "runbook-router.yaml")
    assert chart.enrichment.prometheus_url is None
    assert chart.enrichment.grafana_url is None
    assert chart.enrichment.alertmanager_url is None
    assert chart.enrichment.logs_url is None
    assert chart.enrichment.targets == {}
    # Everything else is the repository's configuration.
    shipped = load_config(ROOT / "config" / "runbook-router.yaml")
    assert "127.0.0.1" in (shipped.enrichment.prometheus_url or "")  # `make run` on a laptop
    assert chart.model_dump(exclude={"enrichment"}) == shipped.model_dump(exclude={"enrichment"})
    assert (chart.enrichment.timeout, chart.enrichment.budget) == (
        shipped.enrichment.timeout,
        shipped.enrichment.budget,
    )
    # The chart's values set the URLs.
    urls = {"prometheusUrl": "http://prometheus-operated.monitoring.svc:9090"}
    env = env_of(container(with_values(SQLITE, enrichment=urls)))
    assert env["RUNBOOK_ROUTER_PROMETHEUS_URL"]["value"] == urls["prometheusUrl"]
    assert "RUNBOOK_ROUTER_PROMETHEUS_URL" not in env_of(container(SQLITE))


def test_the_image_baked_config_is_the_charts_copy() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copy = "COPY helm/runbook-router/files/config/runbook-router.yaml ./config/runbook-router.yaml"
    assert copy in dockerfile
    assert dockerfile.index(copy) > dockerfile.index("COPY config ./config")
    allowed = (ROOT / ".dockerignore").read_text().splitlines()
    assert "!helm/runbook-router/files/config/runbook-router.yaml" in allowed


# --- the image -----------------------------------------------------------------------------


def test_install_without_an_image_repository_says_how_to_get_one(engine: ModuleType) -> None:
    with engine.Chart.load(CHART) as chart, pytest.raises(engine.HelmError) as raised:
        chart.render({}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    message = str(raised.value)
    assert "image.repository is required: no public image exists" in message
    assert "make push IMAGE=<registry>/runbook-router:<version>" in message
    assert "--set image.repository=" in message
    # `helm lint` on the chart alone still passes (it reports missing required values only).
    assert engine.lint(CHART, {})["errors"] == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ({}, f"{REPOSITORY}:{{version}}"),
        ({"tag": "1.2.3"}, f"{REPOSITORY}:1.2.3"),
        ({"digest": "sha256:" + "a" * 64}, f"{REPOSITORY}@sha256:{'a' * 64}"),
    ],
)
def test_every_pod_runs_the_pushed_image(
    engine: ModuleType, image: dict[str, str], expected: str
) -> None:
    values = with_values(POSTGRES, image={"repository": REPOSITORY, **image})
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    want = expected.format(version=version)
    job = one(values, "Job")["spec"]["template"]["spec"]["containers"][0]
    assert container(values)["image"] == want
    assert job["image"] == want
    init = with_values(values, migrations={"mode": "initContainer"})
    assert pod_spec(init)["initContainers"][0]["image"] == want


# --- Service, Ingress, ServiceMonitor, PrometheusRule, dashboards ---------------------------


def test_ingress_routes_to_the_service_and_sets_the_public_url(engine: ModuleType) -> None:
    service = one(EVERYTHING, "Service")
    ingress = one(EVERYTHING, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert service["spec"]["ports"][0]["name"] == "http"
    env = env_of(container(EVERYTHING))
    assert env["RUNBOOK_ROUTER_PUBLIC_URL"]["value"] == f"https://{HOST}"


def test_service_monitor_scrapes_as_job_runbook_router(engine: ModuleType) -> None:
    monitor = one(EVERYTHING, "ServiceMonitor")
    service = one(EVERYTHING, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    # jobLabel names a Service label whose value becomes Prometheus' `job`.
    assert service["metadata"]["labels"][spec["jobLabel"]] == "runbook-router"
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # The self-monitoring rules select exactly this job.
    assert 'up{job="runbook-router"}' in (ROOT / "alert_rules/runbook-router.yml").read_text()


def test_prometheus_rules_equal_alert_rules(engine: ModuleType) -> None:
    rules = by_kind(EVERYTHING, "PrometheusRule")
    sources = {
        name: yaml.safe_load(text) for name, text in source_files("alert_rules", "*.yml").items()
    }
    assert len(rules) == len(sources)
    rendered = {}
    for rule in rules:
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert set(rule["spec"]) == {"groups"}
        rendered[rule["metadata"]["annotations"]["runbook-router/source"]] = rule["spec"]
    assert rendered == {f"alert_rules/{name}": spec for name, spec in sources.items()}
    all_groups = [g for spec in rendered.values() for g in spec["groups"]]
    assert all_groups == [g for spec in sources.values() for g in spec["groups"]]
    # Prometheus templates stay templates: Helm did not expand them.
    text = json.dumps(all_groups)
    assert "{{ $externalLabels.runbook_router_url }}" in text
    assert "{{ with $labels.instance }}" in text


def test_prometheus_rule_files_can_be_left_out(engine: ModuleType) -> None:
    values = with_values(EVERYTHING, prometheusRule={"enabled": True, "exclude": ["application"]})
    (rule,) = by_kind(values, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((ROOT / "alert_rules/runbook-router.yml").read_text())


def test_dashboards_configmap_equals_grafana_dashboards(engine: ModuleType) -> None:
    configmap = one(EVERYTHING, "ConfigMap", f"{FULLNAME}-dashboards")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    expected = source_files("grafana/dashboards", "*.json")
    assert configmap["data"] == expected
    for name, text in configmap["data"].items():
        assert json.loads(text) == json.loads(expected[name])


def test_monitoring_objects_are_optional(engine: ModuleType) -> None:
    kinds = {d["kind"] for d in manifests(POSTGRES)}
    assert not kinds & (CRD_KINDS | {"Ingress"})
    names = {d["metadata"]["name"] for d in by_kind(POSTGRES, "ConfigMap")}
    assert f"{FULLNAME}-dashboards" not in names


# --- NOTES.txt -----------------------------------------------------------------------------


def receiver(text: str) -> dict[str, Any]:
    """The alertmanager.yml snippet NOTES.txt prints, parsed."""
    match = re.search(r"^receivers:\n(?:[ ]+.*\n)+", text, re.MULTILINE)
    assert match, text
    data: dict[str, Any] = yaml.safe_load(match.group(0))
    return data


@pytest.mark.parametrize(
    ("scenario", "url"),
    [
        ("sqlite", f"http://{FULLNAME}.{NAMESPACE}.svc:8080"),
        ("everything", f"https://{HOST}"),
    ],
)
def test_notes_print_the_alertmanager_receiver(engine: ModuleType, scenario: str, url: str) -> None:
    text = notes(SCENARIOS[scenario])
    (entry,) = receiver(text)["receivers"]
    assert entry["name"] == "runbook-router"
    (webhook,) = entry["webhook_configs"]
    assert webhook["url"] == f"{url}/api/v1/webhooks/alertmanager"
    assert webhook["send_resolved"] is True
    assert webhook["max_alerts"] == 0
    assert webhook["http_config"]["authorization"]["type"] == "Bearer"
    assert webhook["http_config"]["authorization"]["credentials"]
    secret = SCENARIOS[scenario].get("auth", {}).get("existingSecret") or f"{FULLNAME}-tokens"
    assert f"kubectl get secret --namespace {NAMESPACE} {secret}" in text
    assert "runbook_router_url" in text


def test_chart_files_are_what_helm_sees(engine: ModuleType) -> None:
    with engine.Chart.load(CHART) as chart:
        names = {f["name"] for f in chart.files}
        assert chart.name == "runbook-router"
        assert chart.schema is not None
    for path in _sync_module().expected():
        assert Path(path).relative_to(CHART).as_posix() in names
