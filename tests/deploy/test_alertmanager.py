"""The shipped Alertmanager configuration: amtool's check, and where each shipped alert is routed."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.promql import ROOT, alert_rules, system_tool

CONFIG = ROOT / "deploy/alertmanager/alertmanager.yml"


def amtool() -> str:
    return system_tool(("amtool",), "prometheus-alertmanager")


def _route(**labels: str) -> str:
    args = [f"{k}={v}" for k, v in labels.items()]
    proc = subprocess.run([amtool(), "config", "routes", "test", f"--config.file={CONFIG}", *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_amtool_check_config():
    proc = subprocess.run([amtool(), "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_routes_by_severity_and_the_business_route():
    assert _route(alertname="MonitorNoWorkerUp", severity="critical") == "ops-pager"
    assert _route(alertname="MonitorDeadLetters", severity="warning", feed="lawsuits") == "ops-tickets"
    assert _route(alertname="MonitorVisitsOverdue", severity="warning", team="T1", audience="business") == \
        "inspection-managers"
    assert _route(alertname="SomethingElse") == "ops-tickets"


def test_every_shipped_alert_reaches_the_receiver_its_labels_say():
    want = {"critical": "ops-pager", "warning": "ops-tickets"}
    for rule in alert_rules():
        labels = {"alertname": rule["alert"], **rule["labels"]}
        expected = "inspection-managers" if labels.get("audience") == "business" else want[labels["severity"]]
        assert _route(**labels) == expected, rule["alert"]
    assert any(r["labels"].get("audience") == "business" and r["alert"] == "MonitorVisitsOverdue"
               for r in alert_rules())


def test_no_secret_and_every_receiver_used():
    doc = yaml.safe_load(CONFIG.read_text())
    names = {r["name"] for r in doc["receivers"]}
    used = {doc["route"]["receiver"]} | {r["receiver"] for r in doc["route"]["routes"]}
    assert names == used

    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield str(k)
                yield from keys(v)
        elif isinstance(node, list):
            for v in node:
                yield from keys(v)

    secret = {"password", "auth_password", "api_key", "credentials", "routing_key", "service_key", "auth_token",
              "bot_token", "token"}
    assert not secret & set(keys(doc))
