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
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["worker-1:6066", "worker-2:6066"]


def test_dockerfile_installs_the_package():
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert text.startswith("# The monitor's image") and "pip install --no-cache-dir ." in text
    assert 'ENTRYPOINT ["monitor"]' in text
