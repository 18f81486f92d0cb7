"""Deployment files parse and name real things."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_parses_and_names_real_images():
    doc = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "worker-1", "worker-2", "prometheus"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["prometheus"]["image"].startswith("prom/prometheus:v3")
    for name in ("worker-1", "worker-2"):
        w = services[name]
        assert w["command"] == ["worker"]
        assert w["environment"]["MONITOR_BROKER"] == "kafka://kafka:19092"
        assert (ROOT / w["build"]["context"].replace("..", ".") / w["build"]["dockerfile"]).exists() or \
            (ROOT / w["build"]["dockerfile"]).exists()
    # the workers are listed in the file Prometheus re-reads (file_sd_configs of prometheus.yml)
    (group,) = yaml.safe_load((ROOT / "deploy/prometheus/targets/workers.yml").read_text())
    assert group["targets"] == ["worker-1:6066", "worker-2:6066"]


def test_dockerfile_installs_the_package():
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert text.startswith("# The monitor's image") and "pip install --no-cache-dir -c deploy/constraints.txt ." in text
    assert 'ENTRYPOINT ["monitor"]' in text


def test_compose_desk_serves_with_the_users_the_secrets_service_makes_and_prometheus_scrapes_it():
    from monitor.desk.settings import DeskSettings
    from monitor.settings import Settings

    doc = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    services = doc["services"]
    desk, init, prom = services["desk"], services["secrets"], services["prometheus"]
    assert desk["command"] == ["serve"] and "127.0.0.1:8080:8080" in desk["ports"]
    # every MONITOR_* variable names a real setting (the settings forbid unknown names)
    env = {k.removeprefix("MONITOR_").lower(): v for k, v in desk["environment"].items()}
    assert DeskSettings(**env).port == 8080
    for name in ("worker-1", "worker-2"):
        Settings(**{k.removeprefix("MONITOR_").lower(): v for k, v in services[name]["environment"].items()})
    users = desk["environment"]["MONITOR_USERS_FILE"]
    script = init["command"][0]
    assert f"--file {users}" in script and "--role ops > /secrets-prometheus/prometheus-token" in script
    assert "desk-secrets:/secrets" in init["volumes"] and "desk-secrets:/secrets:ro" in desk["volumes"]
    assert "prometheus-secrets:/etc/prometheus/secrets:ro" in prom["volumes"]
    conf = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(c for c in conf["scrape_configs"] if c["job_name"] == "monitor-desk")
    assert job["static_configs"][0]["targets"] == ["desk:8080"]
    assert job["authorization"]["credentials_file"] == "secrets/prometheus-token"  # /etc/prometheus/secrets/...


def test_kafka_cluster_ids_never_start_with_a_dash():
    """Kafka's storage tool takes an id starting with "-" for an option (one id in 64 would do it),
    so the broker script, like Kafka's own Uuid.randomUuid(), never makes one."""
    import subprocess

    script = (f'for i in $(seq 400); do bash {ROOT / "deploy/kafka/kafka.sh"} cluster-id; done')
    ids = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, timeout=600).stdout.split()
    assert len(ids) == 400 and len(set(ids)) == 400
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert any("-" in i or "_" in i for i in ids)  # the URL-safe alphabet is kept
