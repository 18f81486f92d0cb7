"""The Prometheus configuration and alerting rules: promtool's checks and unit tests, and the conventions."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.deploy.promql import PROM, ROOT, alert_rules, promtool, rule_exprs


def _run(*args: str) -> str:
    proc = subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_promtool_check_config_and_rules(tmp_path):
    # promtool checks that the desk's token file exists: check a copy with a stand-in token
    import shutil

    conf = tmp_path / "prometheus"
    shutil.copytree(PROM, conf, ignore=shutil.ignore_patterns("tests"))
    (conf / "secrets" / "prometheus-token").write_text("stand-in\n")
    assert (conf / "targets" / "workers.yml").exists()
    out = _run("check", "config", str(conf / "prometheus.yml"))
    assert "SUCCESS" in out and "1 rule files found" in out
    out = _run("check", "rules", str(PROM / "rules.yml"))
    assert f"SUCCESS: {len(rule_exprs())} rules found" in out


def test_promtool_rule_unit_tests_pass():
    tests = sorted((PROM / "tests").glob("*.yml"))
    assert tests
    out = _run("test", "rules", *map(str, tests))
    assert out.count("SUCCESS") == len(tests)


def test_the_unit_tests_can_fail(tmp_path):
    """A wrong expectation makes promtool fail (the tests are not vacuous)."""
    text = (PROM / "tests/workers_test.yml").read_text()
    broken = text.replace("../rules.yml", str(PROM / "rules.yml")).replace(
        'summary: "Worker worker-1:6066 is down"', 'summary: "Worker worker-2:6066 is down"')
    assert broken != text
    path = tmp_path / "broken_test.yml"
    path.write_text(broken)
    proc = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode != 0 and "MonitorWorkerDown" in proc.stdout + proc.stderr


def test_every_alert_has_severity_summary_description_and_a_runbook_section():
    runbook = (ROOT / "docs/operations.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", runbook, flags=re.MULTILINE)}
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) >= 10
    for r in rules:
        name = r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning"), name
        ann = r["annotations"]
        assert ann["summary"] and ann["description"], name
        # absolute: the base is prometheus.yml's external label runbook_base
        assert ann["runbook_url"] == "{{ $externalLabels.runbook_base }}#" + name.lower(), name
        assert name.lower() in anchors, f"docs/operations.md has no section {name}"


def test_every_alert_is_exercised_by_a_unit_test_that_fires_it():
    fired: set[str] = set()
    for path in (PROM / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                if t.get("exp_alerts"):
                    fired.add(t["alertname"])
    assert {r["alert"] for r in alert_rules()} == fired


def test_scrape_config_names_workers_desk_and_rules():
    doc = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {c["job_name"]: c for c in doc["scrape_configs"]}
    assert set(jobs) == {"monitor-worker", "monitor-desk"}
    assert all(c["metrics_path"] == "/metrics" for c in jobs.values())
    assert doc["rule_files"] == ["rules.yml"]
    # the desk's and the workers' /metrics want an ops token, read from a file kept out of the repository
    assert jobs["monitor-desk"]["authorization"]["credentials_file"] == "secrets/prometheus-token"
    assert jobs["monitor-worker"]["authorization"]["credentials_file"] == "secrets/prometheus-token"
    # workers are listed in a file Prometheus re-reads: scaling in is an edit of it (no stale target)
    assert jobs["monitor-worker"]["file_sd_configs"] == [{"files": ["targets/workers.yml"]}]
    runbook = (ROOT / "docs/operations.md").read_text()
    scale = runbook[runbook.index("## Scale"):runbook.index("## Upgrade")]
    assert "targets/workers.yml" in scale
    # runbook links are absolute, from one base
    base = doc["global"]["external_labels"]["runbook_base"]
    assert re.match(r"^https?://[^/]+/", base) and base.endswith("operations.md")
    # alerts go to Alertmanager
    assert doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert (PROM / "secrets" / ".gitignore").read_text().splitlines()[0] == "*"
    # the rules name these jobs
    text = (PROM / "rules.yml").read_text()
    assert 'job="monitor-worker"' in text and 'job="monitor-desk"' in text
