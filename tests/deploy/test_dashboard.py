"""The Grafana dashboard and the alerting rules query only metrics the monitor exports."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.promql import DASHBOARD, ROOT, metric_names, promtool, rule_exprs
from tests.factories import T0, overdue, profile

# The alert desk's metrics (monitor/desk/metrics.py builds them from its view; the test below checks
# that each name still appears there). Sample names as Prometheus stores them.
DESK = {
    "monitor_cases_open", "monitor_cases_past_deadline", "monitor_visits_due_today", "monitor_visits_overdue", "monitor_visits_planned",
    "monitor_http_requests_total", "monitor_http_request_duration_seconds_bucket",
    "monitor_http_request_duration_seconds_sum", "monitor_http_request_duration_seconds_count",
}
# The desk's process figures (monitor/buildinfo.py) and its lag probe (monitor/group_lag.py)
DESK_PROBE = {"monitor_consumer_group_lag", "monitor_desk_view_lag", "monitor_lag_probe_up",
              "monitor_lag_probe_last_success_timestamp_seconds"}
PROMETHEUS = {"up"}  # written by Prometheus itself for every target
#: exported, but not worth a panel of their own
UNSHOWN = {"python_info"}


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panel_exprs() -> list[tuple[str, str]]:
    out = []
    for panel in _dashboard()["panels"]:
        for t in panel.get("targets", []):
            out.append((panel["title"], t["expr"]))
    return out


def _worker_samples() -> set[str]:
    from tests.agents.test_metrics import World, _msg

    w = World()
    w.batch([_msg(profile(T0, "B1", eid="p1"), 0), _msg(overdue(T0 + timedelta(seconds=1), 95, bid="B1"), 0),
             _msg(None, 1, topic=w.metrics.topics.feed("lawsuit"), raw=b"nope")])
    w.metrics.on_rebalance_started()
    w.metrics.on_consumer_lag({(w.metrics.topics.feed("loan_profile"), 0): 3})
    families = list(text_string_to_metric_families(w.metrics.exposition().decode()))
    empty = [f.name for f in families if not f.samples]
    assert not empty, f"families without a sample: {empty}"  # so that every name below is really exported
    return {s.name for f in families for s in f.samples} | _ops_samples()


def _ops_samples() -> set[str]:
    """What the worker's web server adds to the registry (monitor/agents/ops.py): process, build, broker,
    producer and store figures."""
    import tempfile
    from pathlib import Path

    from monitor.agents.app import create_app
    from monitor.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        _app, shell = create_app(Settings(store="rocksdb://", data_dir=Path(tmp), app_id="dash"))
        families = list(text_string_to_metric_families(shell.metrics.exposition().decode()))
    return {s.name for f in families for s in f.samples}


def test_metric_name_extraction():
    assert metric_names('sum by (feed, le) (rate(monitor_event_lag_seconds_bucket{feed=~"a|b"}[10m]))') == \
        {"monitor_event_lag_seconds_bucket"}
    assert metric_names("time() - max by (feed) (max_over_time(x_seconds{feed=\"by\"}[26h])) > 26 * 3600 "
                        "or 7 * absent_over_time(y{a=\"b\"}[7d]) and on () present_over_time(up[1h] offset 7d)") == \
        {"x_seconds", "y", "up"}
    assert metric_names("a / ignoring(x) group_left(y) b unless on(z) c") == {"a", "b", "c"}


def test_every_queried_metric_is_exported():
    exported = _worker_samples() | DESK | DESK_PROBE | PROMETHEUS
    used: dict[str, set[str]] = {}
    for where, expr in _panel_exprs() + rule_exprs():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(where)
    assert len(used) >= 25
    unknown = {n: sorted(w) for n, w in used.items() if n not in exported}
    assert not unknown, unknown
    # and the other way round: the dashboard shows every worker family
    shown = {n for _, e in _panel_exprs() for n in metric_names(e)}
    bases = {n.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for n in shown}
    missing = {n for n in _worker_samples() | DESK_PROBE
               if n.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") not in bases
               and not n.endswith("_created") and n not in UNSHOWN}
    assert not missing, f"exported but on no panel: {sorted(missing)}"


def test_desk_names_are_the_desks():
    path = ROOT / "monitor/desk/metrics.py"
    if not path.exists():
        pytest.skip("monitor/desk/metrics.py not there yet; DESK is the agreed list")
    source = path.read_text()
    for name in DESK:
        base = name.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        assert f'"{base}"' in source, f"{base} is not defined in monitor/desk/metrics.py"


def test_probe_names_are_the_probes():
    source = (ROOT / "monitor/group_lag.py").read_text()
    for name in DESK_PROBE:
        assert f'"{name}"' in source, name


def test_dashboard_expressions_parse(tmp_path):
    """promtool parses every panel query (as recording rules), so Grafana gets valid PromQL."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": expr} for i, (_, expr) in enumerate(_panel_exprs())]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_layout_and_data_source():
    d = _dashboard()
    assert d["uid"] == "monitor-overview" and d["templating"]["list"][0]["type"] == "datasource"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
    titles = " ".join(p["title"].lower() for p in d["panels"])
    for topic in ("events", "lag", "newest event", "tier", "alerts", "dead letters", "visits", "p99"):
        assert topic in titles, topic


def test_grafana_provisioning_points_at_the_dashboard():
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    prov = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/monitor.yml").read_text())
    (provider,) = prov["providers"]
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
