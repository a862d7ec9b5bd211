"""docker-compose.yml, validated and normalised by the real docker-compose (Debian package
`docker-compose`, 1.29: `docker-compose -f docker-compose.yml config`; no engine runs
here, so nothing is started), then checked for the topology the operator needs: every
role, the one-shot steps finished before the roles start, a health check on every
long-running service, Prometheus scraping every role, Grafana provisioned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import DEPLOY, ROOT, require, run

ROLES = {"api", "executor", "consumer", "worker"}
ONE_SHOT = {"migrate", "kafka-topics"}
SERVERS = {"redis", "kafka", "clickhouse", "temporal", "temporal-db", "temporal-ui"}
MONITORING = {"prometheus", "grafana"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    docker_compose = require("docker-compose", "docker-compose")
    result = run([docker_compose, "-f", "docker-compose.yml", "config"], cwd=ROOT)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def test_every_role_and_service_is_present(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == ROLES | ONE_SHOT | SERVERS | MONITORING


@pytest.mark.parametrize("role", sorted(ROLES | {"migrate"}))
def test_roles_run_the_product_image(compose: dict[str, Any], role: str) -> None:
    service = compose["services"][role]
    assert service["image"] == "hybrid-scheduler:latest"
    assert service["build"]["context"] == str(ROOT)


def test_each_role_runs_its_command(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["api"]["command"] == ["serve", "--role", "api"]
    assert services["executor"]["command"] == ["serve", "--role", "executor"]
    assert services["consumer"]["command"] == ["serve", "--role", "consumer"]
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["migrate"]


def test_api_listens_on_all_interfaces_port_8000(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["environment"]["SCHEDULES_API_HOST"] == "0.0.0.0"
    assert api["environment"]["SCHEDULES_API_PORT"] == "8000"
    assert {"published": 8000, "target": 8000} in [
        {"published": int(port["published"]), "target": int(port["target"])}
        for port in api["ports"]
    ]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_roles_start_after_migrate_and_topics(compose: dict[str, Any], role: str) -> None:
    depends = compose["services"][role]["depends_on"]
    for step in ONE_SHOT:
        assert depends[step] == {"condition": "service_completed_successfully"}
    for server in ("redis", "kafka", "clickhouse"):
        assert depends[server] == {"condition": "service_healthy"}
    if role == "worker":
        assert depends["temporal"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_roles_serve_metrics_on_the_same_port(compose: dict[str, Any], role: str) -> None:
    assert compose["services"][role]["environment"]["SCHEDULES_METRICS_PORT"] == "9464"


@pytest.mark.parametrize("name", sorted(ROLES | SERVERS | MONITORING))
def test_long_running_services_have_a_health_check(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    check = service.get("healthcheck")
    assert check and not check.get("disable"), f"{name} has no health check"
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert service["restart"] == "unless-stopped"


@pytest.mark.parametrize("step", sorted(ONE_SHOT))
def test_one_shot_steps_do_not_restart(compose: dict[str, Any], step: str) -> None:
    assert compose["services"][step]["restart"] == "no"


def test_topics_are_created_for_the_configured_names(compose: dict[str, Any]) -> None:
    topics = compose["services"]["kafka-topics"]["environment"]["TOPICS"].split()
    env = compose["services"]["consumer"]["environment"]
    assert env["KAFKA_DELAYED_TOPIC_NAME"] in topics
    assert env["KAFKA_DEAD_LETTER_TOPIC_NAME"] in topics
    kafka = compose["services"]["kafka"]["environment"]
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_dependencies_are_waited_for_by_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["temporal"]["depends_on"]["temporal-db"] == {"condition": "service_healthy"}
    assert services["temporal-ui"]["depends_on"]["temporal"] == {"condition": "service_healthy"}
    assert services["grafana"]["depends_on"]["prometheus"] == {"condition": "service_healthy"}


def test_prometheus_scrapes_every_role(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for role in ROLES:
        (sd,) = jobs[role]["dns_sd_configs"]
        assert sd["names"] == [role]  # the compose service name: one A record per replica
        assert sd["port"] == 9464
        assert jobs[role].get("metrics_path", "/metrics") == "/metrics"
    worker_env = compose["services"]["worker"]["environment"]
    (sdk,) = jobs["temporal-sdk"]["dns_sd_configs"]
    assert str(sdk["port"]) == worker_env["SCHEDULES_TEMPORAL_METRICS_PORT"]


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    """Prometheus's config and rules, Grafana's provisioning and dashboards: bind mounts
    of files in this repository (docker-compose config makes their paths absolute)."""
    mounted = [
        Path(volume.split(":")[0])
        for name in MONITORING
        for volume in compose["services"][name]["volumes"]
        if volume.startswith("/")
    ]
    assert len(mounted) == 4
    for source in mounted:
        assert source.is_relative_to(DEPLOY) and source.exists(), source


def test_grafana_is_provisioned_from_the_repository(compose: dict[str, Any]) -> None:
    provider = DEPLOY / "grafana" / "provisioning" / "dashboards" / "hybrid-scheduler.yml"
    (entry,) = yaml.safe_load(provider.read_text())["providers"]
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"{DEPLOY}/grafana/dashboards:{entry['options']['path']}:ro" in volumes
    assert f"{DEPLOY}/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
