"""The compose file's invariants, read (there is no Docker engine to run it here): ports on loopback, named
volumes for everything that must survive `down` (Kafka's topics too), health checks, no default password,
no token where it does not belong, an image that runs unprivileged with pinned dependencies."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import yaml

from tests.deploy.promql import ROOT

COMPOSE = ROOT / "deploy/docker-compose.yml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _mounts(service: dict) -> dict[str, str]:
    """target path -> source of each volume entry."""
    out = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        out[target] = source
    return out


def test_every_published_port_is_on_loopback():
    published = 0
    for name, s in _services().items():
        for port in s.get("ports", []):
            published += 1
            assert isinstance(port, str) and re.match(r"^127\.0\.0\.1:\d+:\d+$", port), (name, port)
    assert published >= 5
    assert "ports" not in _services()["worker-1"]  # the workers' /metrics is for Prometheus on the network


def test_state_lives_in_named_volumes():
    doc = yaml.safe_load(COMPOSE.read_text())
    named = set(doc["volumes"])
    services = doc["services"]
    kafka = services["kafka"]
    assert _mounts(kafka)[kafka["environment"]["KAFKA_LOG_DIRS"]] == "kafka-data"
    for worker in ("worker-1", "worker-2"):
        s = services[worker]
        assert _mounts(s)[s["environment"]["MONITOR_DATA_DIR"]] in named
    assert _mounts(services["desk"])[services["desk"]["environment"]["MONITOR_REPORTS_DIR"]] in named
    assert _mounts(services["prometheus"])["/prometheus"] in named
    assert _mounts(services["alertmanager"])["/alertmanager"] in named
    assert _mounts(services["grafana"])["/var/lib/grafana"] in named
    for name, s in services.items():
        for target, source in _mounts(s).items():
            assert source.startswith("./") or source in named, (name, target, source)


def test_long_running_services_have_health_checks():
    for name, s in _services().items():
        if s.get("restart") == "unless-stopped" or name in ("kafka", "prometheus", "alertmanager", "grafana"):
            check = s.get("healthcheck", {}).get("test")
            assert check, f"{name} has no healthcheck"
    worker = _services()["worker-1"]["healthcheck"]["test"]
    assert any("6066/healthz" in part for part in worker)
    assert any("8080/healthz" in part for part in _services()["desk"]["healthcheck"]["test"])


def test_no_default_password_no_anonymous_access():
    text = COMPOSE.read_text()
    services = _services()
    graf = services["grafana"]["environment"]
    assert graf["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and graf["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in graf and graf["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith("/run/")
    assert "admin/admin" not in text
    for name, s in services.items():
        for key, value in (s.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|API_KEY", key) and not key.endswith("_FILE"):
                raise AssertionError(f"{name}: {key}={value!r} in the compose file")


def test_tokens_go_only_where_they_are_needed():
    services = _services()
    # Prometheus (and the workers, which check its token) see only Prometheus's token, not the admin's
    for name in ("prometheus", "worker-1", "worker-2", "grafana", "alertmanager"):
        assert "desk-secrets" not in _mounts(services[name]).values(), name
    assert "prometheus-secrets" in _mounts(services["prometheus"]).values()
    # the desk reads the users file read-only; users are added through the secrets service
    assert "desk-secrets:/secrets:ro" in services["desk"]["volumes"]
    assert "desk-secrets:/secrets" in services["secrets"]["volumes"]
    for worker in ("worker-1", "worker-2"):
        env = services[worker]["environment"]
        token = env["MONITOR_METRICS_TOKEN_FILE"]
        assert any(token.startswith(target + "/") for target, src in _mounts(services[worker]).items()
                   if src == "prometheus-secrets")


def test_the_runbooks_compose_commands_work_as_written():
    runbook = (ROOT / "docs/operations.md").read_text()
    # `run SERVICE cat FILE` would hand "cat" to the service's `sh -c` entrypoint and print nothing
    assert "run --rm --entrypoint cat secrets /secrets/admin-token" in runbook
    assert "run --rm desk-init cat" not in runbook and "exec desk monitor users add" not in runbook
    assert "--entrypoint monitor secrets" in runbook
    assert services_named_in(runbook) <= set(_services())


def services_named_in(text: str) -> set[str]:
    return set(re.findall(r"docker compose -f deploy/docker-compose.yml (?:run --rm (?:--entrypoint \w+ )?|"
                          r"restart |exec )([\w-]+)", text))


def test_the_image_runs_unprivileged_with_pinned_dependencies():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    # the worker's data directory belongs to that user (a fresh named volume takes its owner)
    assert re.search(r"chown \S*monitor\S* [^\n]*/data\b", dockerfile) and "useradd" in dockerfile
    assert "-c deploy/constraints.txt" in dockerfile
    assert all(re.match(r"^[\w.-]+==[\w.]+$", r) for r in project_toml()["build-system"]["requires"])


def _constraints():
    spec = importlib.util.spec_from_file_location("deploy_constraints", ROOT / "deploy/constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project_toml() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_constraints_pin_every_package_the_image_installs():
    c = _constraints()
    problems = c.check()
    assert not problems, "deploy/constraints.txt is out of date (run make constraints):\n" + "\n".join(problems)
    pins, _ = c.read_pins(c.CONSTRAINTS.read_text())
    runtime = {c.canonicalize_name(r.name) for r in c.runtime_requirements()}
    assert runtime < set(pins)  # the transitive ones too
    # what the image installs, not the test tools
    test_only = {c.canonicalize_name(d.partition("==")[0]) for d in project_toml()["project"]["optional-dependencies"]["test"]}
    assert not (test_only - runtime) & set(pins), sorted((test_only - runtime) & set(pins))
    assert c.image_python() == "3.11"


def test_the_constraints_check_catches_a_real_drift(tmp_path):
    """What breaks the image or floats a version is reported; a pin nothing needs any more is not."""
    c = _constraints()
    text = c.CONSTRAINTS.read_text()
    pyproject = tmp_path / "pyproject.toml"
    constraints = tmp_path / "constraints.txt"

    def problems(project: str, pins: str) -> list[str]:
        pyproject.write_text(project)
        constraints.write_text(pins)
        return c.check(pyproject, constraints)

    project = (ROOT / "pyproject.toml").read_text()
    assert problems(project, text) == []
    # a dependency added to pyproject.toml without `make constraints`
    added = project.replace('dependencies = [\n', 'dependencies = [\n    "pyarrow==21.0.0",\n', 1)
    assert problems(added, text) == ["pyarrow (required by pyproject.toml) is not pinned"]
    # a dependency moved to another version
    pin = next(line for line in text.splitlines() if line.lower().startswith("fastapi=="))
    moved = text.replace(pin, "fastapi==0.1.0")
    assert problems(project, moved) == ["fastapi==0.1.0 does not satisfy pyproject.toml's requirement " +
                                        next(d for d in project_toml()["project"]["dependencies"]
                                             if d.lower().startswith("fastapi=="))]
    # a transitive pin missing, or at a version its dependant excludes
    starlette = next(line for line in text.splitlines() if line.lower().startswith("starlette=="))
    (missing,) = problems(project, text.replace(starlette + "\n", ""))
    assert missing.startswith("starlette (required by fastapi==") and missing.endswith("is not pinned")
    (excluded,) = problems(project, text.replace(starlette, "starlette==0.0.1"))
    assert excluded.startswith("starlette==0.0.1 does not satisfy fastapi==")
    # not a pin, or twice
    assert problems(project, text + "uvicorn\n") == ["line %d: 'uvicorn' is not name==version" % (text.count("\n") + 1)]
    assert problems(project, text + "Uvicorn==0.1\n")[0].endswith("Uvicorn is pinned twice")
    # an unpinned dependency in pyproject.toml
    loose = project.replace('"tomlkit==', '"tomlkit>=', 1)
    assert any("tomlkit>=" in p and "not pinned to one version" in p for p in problems(loose, text))
    # a pin nothing requires any more does no harm (a constraint installs nothing)
    assert problems(project, text + "six-and-a-half==1.0\n") == []


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for entry in (".git", ".venv", "deploy/prometheus/secrets", "monitor-data", "users.toml"):
        assert entry in ignored, entry
