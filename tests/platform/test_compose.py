"""docker/: the compose file, Prometheus, Loki, Alloy and Grafana provisioning parse and agree with each other
(services, ports, volumes, datasource uids); `docker compose config` passes where the compose plugin exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
CELERY_WORKERS = {"celery-worker", "celery-deliveries", "celery-actions", "celery-agents", "celery-ingestion"}
OUR_SERVICES = {"gateway", "temporal-worker"} | CELERY_WORKERS


def load(path: str):
    return yaml.safe_load((DOCKER / path).read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("compose.yaml")


def test_the_stack_has_every_service_with_restart_policy_and_health_check(compose):
    services = compose["services"]
    assert set(services) == {
        "postgres", "redis", "temporal", "temporal-ui", "gateway", "temporal-worker", "portal",
        "prometheus", "loki", "alloy", "grafana", *CELERY_WORKERS,
    }  # fmt: skip
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
    for name in services.keys() - {"temporal-ui", "alloy", "portal"}:
        assert "healthcheck" in services[name], name
    assert "pgvector" in services["postgres"]["image"]


def test_our_processes_share_the_gateway_image_and_take_secrets_from_the_env_file(compose):
    services = compose["services"]
    for name in OUR_SERVICES:
        assert services[name]["image"] == "bizosaas-gateway:latest", name
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
        assert services[name]["env_file"] == [".env"]
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "bizosaas.settings.prod"
    assert "migrate_schemas" in " ".join(services["gateway"]["command"])
    assert services["temporal-worker"]["command"][-1] == "temporal_worker"
    text = (DOCKER / "compose.yaml").read_text()
    for secret in ("SECRET_KEY", "CREDENTIALS_KEYS"):
        assert not re.search(rf"^\s*{secret}:", text, re.MULTILINE), f"{secret} belongs in the env file"
    example = (DOCKER / ".env.example").read_text()
    for variable in set(re.findall(r"\$\{(\w+)", text)):
        assert re.search(rf"^{variable}=", example, re.MULTILINE), f"{variable} missing from docker/.env.example"


def test_every_work_class_has_a_worker_on_its_own_queue_and_beat_runs_once(compose):
    from django.conf import settings

    services = compose["services"]
    consumed = {}
    for name in CELERY_WORKERS:
        command = services[name]["command"]
        for queue in command[command.index("-Q") + 1].split(","):
            consumed[queue] = name
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}

    assert set(consumed) == declared
    assert consumed["deliveries"] != consumed["fanout"]  # slow deliveries never hold up fan-out
    assert [name for name in CELERY_WORKERS if "-B" in services[name]["command"]] == ["celery-worker"]


def test_named_volumes_are_declared_and_used(compose):
    declared = set(compose["volumes"])
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
            else:
                assert source.startswith("/var/run/docker.sock") or (DOCKER / source).exists(), volume
    assert used == declared


def test_every_scrape_target_is_a_service_port_that_listens(compose):
    prometheus = load("prometheus/prometheus.yml")
    services = compose["services"]
    listening = {
        ("gateway", "8000"),
        *((name, services[name]["environment"]["CELERY_METRICS_BIND"].rsplit(":", 1)[1]) for name in CELERY_WORKERS),
        ("temporal-worker", services["temporal-worker"]["environment"]["TEMPORAL_METRICS_BIND"].rsplit(":", 1)[1]),
        ("temporal-worker", services["temporal-worker"]["environment"]["TEMPORAL_APP_METRICS_BIND"].rsplit(":", 1)[1]),
        ("temporal", services["temporal"]["environment"]["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]),
        ("prometheus", "9090"),
        ("loki", "3100"),
    }
    targets = {
        tuple(target.split(":"))
        for job in prometheus["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}

    assert targets == listening
    assert {"gateway", "celery-worker", "temporal-worker", "temporal"} <= jobs
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounts = services["prometheus"]["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    rules = load("prometheus/alerts.yml")
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"GatewayHighErrorRate", "WebhookBacklogGrowing", "WebhookDeliveriesFailing", "ProcessDown"} <= names
    assert "WorkflowFailures" in names


def test_loki_and_alloy_ship_container_logs_to_the_loki_service(compose):
    loki = load("loki/loki.yaml")
    assert loki["server"]["http_listen_port"] == 3100
    assert "./loki/loki.yaml:/etc/loki/loki.yaml:ro" in compose["services"]["loki"]["volumes"]
    alloy = (DOCKER / "alloy" / "config.alloy").read_text()
    assert alloy.count("{") == alloy.count("}")
    assert 'url = "http://loki:3100/loki/api/v1/push"' in alloy
    assert "loki.source.docker" in alloy and 'regex         = "bizosaas"' in alloy
    assert compose["name"] == "bizosaas"  # the project label Alloy keeps
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in compose["services"]["alloy"]["volumes"]


def test_grafana_provisions_the_datasources_and_dashboards_the_panels_use(compose):
    datasources = load("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    uids = {source["uid"]: source for source in datasources}
    assert uids["prometheus"]["url"] == "http://prometheus:9090"
    assert uids["loki"]["url"] == "http://loki:3100"
    provider = load("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    grafana = compose["services"]["grafana"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    titles = set()
    for path in (DOCKER / "grafana" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        titles.add(dashboard["title"])
        for panel in dashboard["panels"]:
            for ref in [panel["datasource"], *(t.get("datasource", panel["datasource"]) for t in panel["targets"])]:
                assert ref["uid"] in uids and uids[ref["uid"]]["type"] == ref["type"], (path.name, panel["title"])
    assert titles == {"BizOSaaS System Health", "BizOSaaS Tenant"}
    tenant = json.loads((DOCKER / "grafana" / "dashboards" / "tenant.json").read_text())
    assert [v["name"] for v in tenant["templating"]["list"]] == ["tenant"]
    assert any(
        p["type"] == "logs"
        for p in json.loads((DOCKER / "grafana/dashboards/system-health.json").read_text())["panels"]
    )


def test_our_images_run_as_non_root_users():
    for name in ("Dockerfile", "portal.Dockerfile"):
        text = (DOCKER / name).read_text()
        users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
        assert users and users[-1] not in ("root", "0"), name
        assert "HEALTHCHECK" in text, name
    assert "gunicorn.conf.py" in (DOCKER / "Dockerfile").read_text()


def test_docker_compose_config_passes_where_the_plugin_exists():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no docker compose plugin on this machine")
    env = DOCKER / ".env"
    created = not env.exists()
    if created:
        shutil.copy(DOCKER / ".env.example", env)
    try:
        result = subprocess.run(
            [docker, "compose", "-f", str(DOCKER / "compose.yaml"), "config", "-q"], capture_output=True, text=True
        )
    finally:
        if created:
            env.unlink()
    assert result.returncode == 0, result.stderr


def test_redis_asks_for_a_password_that_every_client_url_carries(compose):
    services = compose["services"]
    redis = services["redis"]
    assert "--requirepass" in " ".join(redis["command"])
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"] == redis["environment"]["REDIS_PASSWORD"]  # the health check
    for name in OUR_SERVICES:
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?"), name


def test_redis_and_the_temporal_frontend_are_reachable_on_the_compose_network_only(compose):
    services = compose["services"]
    assert "ports" not in services["redis"]
    assert "ports" not in services["temporal"]
    assert "ports" not in services["postgres"]


def test_prometheus_scrapes_the_gateway_with_the_metrics_token(compose):
    services = compose["services"]
    gateway_job = next(j for j in load("prometheus/prometheus.yml")["scrape_configs"] if j["job_name"] == "gateway")
    assert gateway_job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    assert services["prometheus"]["secrets"] == ["metrics_token"]
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    for name in OUR_SERVICES:
        assert services[name]["environment"]["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?"), name
