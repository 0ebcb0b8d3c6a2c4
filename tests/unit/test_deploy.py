"""The production deployment, checked without a Docker engine.

docker-compose.yml is validated against the Compose specification's JSON schema (a copy lives in
tests/data/compose-spec/), and the pieces that must agree are compared: the
compose commands and deploy/commands.json (which the end-to-end tests and `catalog-sync run`
start too), the Dockerfile's final stage, `.env.example` and `settings.Settings`, and the
metric names the Prometheus and Grafana configuration query and those
worker/observability/metrics.py defines.
"""

from __future__ import annotations

import importlib
import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from dotenv import dotenv_values

from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
COMMANDS = ROOT / "deploy" / "commands.json"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
METRICS_SOURCE = ROOT / "worker" / "observability" / "metrics.py"

APP_SERVICES = ("migrate", "webhook", "worker", "beat")
METRIC_RE = re.compile(r"\bcatalog_sync_[a-z0-9_]+\b")


# --- helpers -----------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, Any]:
    return _compose()["services"]


def _commands() -> dict[str, list[str]]:
    return json.loads(COMMANDS.read_text())


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}; the short (list) form means service_started."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), per stage."""
    instructions: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        instructions.append(pending + line)
        pending = ""
    stages: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _exposed_metric_names() -> set[str]:
    """Every series name worker/observability/metrics.py can expose, from its constructor calls."""
    source = METRICS_SOURCE.read_text()
    suffixes = {
        "Counter": ("_total", "_created"),
        "CounterMetricFamily": ("_total", "_created"),
        "Gauge": ("",),
        "GaugeMetricFamily": ("",),
        "Histogram": ("_bucket", "_sum", "_count", "_created"),
        "HistogramMetricFamily": ("_bucket", "_sum", "_count", "_created"),
        "Summary": ("", "_sum", "_count", "_created"),
        "SummaryMetricFamily": ("", "_sum", "_count", "_created"),
        "Info": ("_info",),
        "InfoMetricFamily": ("_info",),
    }
    pattern = re.compile(
        r"\b(" + "|".join(sorted(suffixes, key=len, reverse=True)) + r")\(\s*"
        r"(?:name\s*=\s*)?[\"'](catalog_sync_[a-z0-9_]+)[\"']"
    )
    names: set[str] = set()
    for kind, name in pattern.findall(source):
        if kind.startswith("Counter") and name.endswith("_total"):
            name = name.removesuffix("_total")
        names.update(name + suffix for suffix in suffixes[kind])
    return names


def _require_metrics_source() -> set[str]:
    names = _exposed_metric_names()
    assert names, "worker/observability/metrics.py defines no catalog_sync_* metric"
    return names


def _dashboard_exprs() -> list[tuple[str, str]]:
    exprs = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                if "expr" in target:
                    exprs.append((f"{path.name}: {panel.get('title')}", target["expr"]))
    return exprs


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return panels


def _alert_rules() -> list[dict[str, Any]]:
    config = yaml.safe_load(PROMETHEUS.read_text())
    rules = []
    for entry in config.get("rule_files") or []:
        path = PROMETHEUS.parent / Path(entry).name  # mounted at /etc/prometheus/
        assert path.exists(), f"rule file {entry} is not in deploy/prometheus/"
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


# --- docker-compose.yml ------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    declared = schema.get("$schema", "")
    validator_cls = jsonschema.validators.validator_for(schema, default=None)
    if validator_cls is None:  # e.g. "https://json-schema.org/draft-07/schema" (no '#')
        by_draft = {
            "draft-04": jsonschema.Draft4Validator,
            "draft-06": jsonschema.Draft6Validator,
            "draft-07": jsonschema.Draft7Validator,
            "2019-09": jsonschema.Draft201909Validator,
            "2020-12": jsonschema.Draft202012Validator,
        }
        validator_cls = next(
            (cls for key, cls in by_draft.items() if key in declared), jsonschema.Draft7Validator
        )
    validator_cls.check_schema(schema)
    errors = sorted(
        validator_cls(schema).iter_errors(_compose()), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
    )


def test_every_service_is_there() -> None:
    services = _services()
    for name in ("db", "redis", *APP_SERVICES):
        assert name in services, f"service {name} missing"
    for name in ("prometheus", "grafana"):
        assert services[name].get("profiles") == ["observability"], name
    for name in ("db", "redis", *APP_SERVICES):
        assert not services[name].get("profiles"), f"{name} must start without a profile"


def test_app_services_share_one_image_and_the_env_file() -> None:
    services = _services()
    builds = {json.dumps(services[name].get("build"), sort_keys=True) for name in APP_SERVICES}
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(builds) == 1 and all(services[n].get("build") for n in APP_SERVICES)
    assert len(images) == 1
    for name in APP_SERVICES:
        env_file = services[name].get("env_file")
        files = env_file if isinstance(env_file, list) else [env_file]
        paths = [f["path"] if isinstance(f, dict) else f for f in files]
        assert ".env" in paths, f"{name} does not read .env"


def test_commands_are_the_ones_in_deploy_commands_json() -> None:
    commands = _commands()
    assert set(commands) == set(APP_SERVICES)
    services = _services()
    for name, argv in commands.items():
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), name
        assert services[name]["command"] == argv, f"{name}: compose command != commands.json"


def test_commands_run_the_contract_entry_points() -> None:
    commands = _commands()
    assert commands["migrate"] == ["alembic", "upgrade", "head"]
    assert (
        commands["webhook"][0] == "gunicorn" and commands["webhook"][-1] == "webhook:create_app()"
    )
    assert "0.0.0.0:8000" in commands["webhook"]
    assert commands["worker"][:4] == ["celery", "-A", "worker", "worker"]
    assert commands["beat"][:4] == ["celery", "-A", "worker", "beat"]


def _option(argv: list[str], name: str) -> str:
    assert name in argv, f"webhook command has no {name}"
    return argv[argv.index(name) + 1]


def test_a_slow_client_cannot_hold_a_receiver_worker() -> None:
    """Threads with a read deadline, and a worker whose threads are busy stops accepting, so
    slow clients (issue 13) cannot queue a delivery behind them while another worker is free."""
    from gunicorn.workers.gthread import ThreadWorker

    from webhook.gunicorn_worker import READ_DEADLINE_S

    argv = _commands()["webhook"]
    module, _, name = _option(argv, "--worker-class").rpartition(".")
    worker_class = getattr(importlib.import_module(module), name)
    assert issubclass(worker_class, ThreadWorker)
    threads = int(_option(argv, "--threads"))
    assert threads >= 2
    assert int(_option(argv, "--worker-connections")) == threads
    assert int(_option(argv, "--keep-alive")) == 0  # no idle connection keeps a slot
    assert 0 < READ_DEADLINE_S < 10 <= int(_option(argv, "--timeout"))  # GitHub waits 10 s


def test_db_and_redis_are_healthchecked_and_persistent() -> None:
    services = _services()
    db, redis = services["db"], services["redis"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert redis["image"].startswith("redis:7")
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])
    command = redis["command"]
    command = command if isinstance(command, list) else command.split()
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    declared = set(_compose().get("volumes") or {})
    for volume in (*db["volumes"], *redis["volumes"]):
        assert str(volume).split(":")[0] in declared, f"{volume}: named volume not declared"


def test_migrate_runs_once_after_the_database_is_healthy() -> None:
    migrate = _services()["migrate"]
    assert migrate["restart"] == "no"
    assert _depends_on(migrate).get("db") == "service_healthy"


def test_processes_start_when_what_they_need_is_ready() -> None:
    services = _services()
    for name in ("webhook", "worker", "beat"):
        deps = _depends_on(services[name])
        assert deps.get("migrate") == "service_completed_successfully", name
        assert deps.get("redis") == "service_healthy", name
        assert deps.get("db") == "service_healthy", name


def test_webhook_is_healthchecked_on_health_without_curl() -> None:
    webhook = _services()["webhook"]
    test = webhook["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    assert "/health" in text and "urllib" in text and "curl" not in text
    assert any(str(p).endswith("8000") for p in webhook["ports"])
    multiproc = webhook["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert any(str(t).split(":")[0] == multiproc for t in webhook["tmpfs"]), (
        "PROMETHEUS_MULTIPROC_DIR must be a tmpfs: empty on every start"
    )


def test_exactly_one_beat() -> None:
    assert _services()["beat"]["deploy"]["replicas"] == 1


def test_bind_mounts_exist_in_the_checkout() -> None:
    for name, service in _services().items():
        for volume in service.get("volumes") or []:
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"


# --- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_with_a_slim_non_root_final_stage() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "Dockerfile must be multi-stage"
    assert all(stage[0].split()[1].startswith("python:3.11-slim") for stage in stages)
    final = stages[-1]
    users = [i.split(None, 1)[1].strip() for i in final if i.upper().startswith("USER ")]
    assert users, "final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"final stage runs as {user}"
    text = "\n".join(final).lower()
    for tool in ("gcc", "build-essential", "apt-get install", "uv sync", "pip install"):
        assert tool not in text, f"final stage contains {tool}"
    assert any("--from=" in i and "/app/.venv" in i for i in final), "venv not copied from builder"
    assert any(i.upper().startswith("EXPOSE ") and "8000" in i for i in final)
    assert any(i.upper().startswith("ENV ") and "/app/.venv/bin" in i for i in final)


def test_dockerfile_builder_installs_the_locked_runtime_set() -> None:
    builder = "\n".join(_dockerfile_stages()[0])
    assert "uv sync --frozen" in builder
    assert "--extra dev" not in builder and "--all-extras" not in builder


def test_dockerfile_default_command_is_the_webhook() -> None:
    final = _dockerfile_stages()[-1]
    cmds = [i for i in final if i.upper().startswith("CMD ")]
    assert cmds, "no CMD"
    assert json.loads(cmds[-1][4:]) == _commands()["webhook"]


def test_final_image_has_what_the_processes_need() -> None:
    copied = " ".join(i for i in _dockerfile_stages()[-1] if i.upper().startswith("COPY "))
    for needed in ("models", "webhook", "worker", "settings.py", "migrations", "alembic.ini"):
        assert needed in copied, f"{needed} not copied into the final image"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for entry in (".env", ".venv", ".git"):
        assert entry in ignored, f".dockerignore misses {entry}"


# --- .env.example --------------------------------------------------------------------------------


def _env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_env_example_lists_every_setting() -> None:
    names = _env_example_names()
    missing = sorted(f.upper() for f in Settings.model_fields if f.upper() not in names)
    assert not missing, f".env.example misses {missing}"
    assert "PROMETHEUS_MULTIPROC_DIR" in names


def test_env_example_documents_every_setting_with_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for field in Settings.model_fields:
        name = field.upper()
        index = next(i for i, line in enumerate(lines) if re.match(rf"^#?\s*{name}=", line))
        above = lines[index - 1]
        assert above.startswith("#"), f"{name} has no comment above it"


def test_env_example_values_are_valid_settings() -> None:
    active = dotenv_values(ENV_EXAMPLE)
    fields = {f.upper(): f for f in Settings.model_fields}
    values = {fields[k]: v for k, v in active.items() if k in fields}
    Settings(_env_file=None, **values)  # the values as shipped
    examples = "\n".join(
        re.sub(r"^#\s*", "", line)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if re.match(r"^#?\s*[A-Z][A-Z0-9_]*=", line)
    )
    everything = dotenv_values(stream=io.StringIO(examples))
    settings = Settings(
        _env_file=None, **{fields[k]: v for k, v in everything.items() if k in fields}
    )
    assert settings.uses_github_app  # the commented GitHub App example is well-formed


def test_compose_builds_the_database_url_from_the_db_services_credentials() -> None:
    services = _services()
    db = services["db"]["environment"]
    expected = (
        f"postgresql+psycopg2://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}"
        f"@db:5432/{db['POSTGRES_DB']}"
    )
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DATABASE_URL"] == expected, name
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name


def test_env_example_does_not_point_the_host_cli_at_compose_only_hosts() -> None:
    """The host CLI reads `.env` too: a copied .env.example must not aim it at `db`/`redis`."""
    active = dotenv_values(ENV_EXAMPLE)
    assert "DATABASE_URL" not in active and "CELERY_BROKER_URL" not in active
    for name, value in active.items():
        assert "@db:" not in (value or "") and "redis://redis" not in (value or ""), name
    assert "POSTGRES_PASSWORD" in active  # what compose builds DATABASE_URL from


# --- Prometheus and Grafana ----------------------------------------------------------------------


def test_prometheus_scrapes_the_receivers_metrics() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = config["scrape_configs"]
    assert jobs
    for job in jobs:
        assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = []
    for job in jobs:
        for static in job.get("static_configs", []):
            targets.extend(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            targets.extend(f"{name}:{dns.get('port')}" for name in dns["names"])
    assert "webhook:8000" in targets


def test_alert_rules_query_metrics_that_exist() -> None:
    rules = _alert_rules()
    assert rules, "no alert rules"
    names = _require_metrics_source()
    for rule in rules:
        unknown = set(METRIC_RE.findall(rule["expr"])) - names
        assert not unknown, f"alert {rule['alert']}: unknown metrics {unknown}"


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in datasources if d["type"] == "prometheus"}
    assert any("prometheus:9090" in d["url"] for d in datasources)
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "catalog-sync.yml").read_text()
    )["providers"]
    grafana = _services()["grafana"]
    mounted = {str(v).split(":")[1] for v in grafana["volumes"] if str(v).startswith("./")}
    for provider in providers:
        assert provider["options"]["path"] in mounted
    for _, panel_ds in (
        (p["title"], p.get("datasource"))
        for path in DASHBOARDS.glob("*.json")
        for p in _panels(json.loads(path.read_text()))
    ):
        assert panel_ds is None or panel_ds["uid"] in uids


def test_dashboard_parses_and_has_the_panels_that_matter() -> None:
    dashboards = sorted(DASHBOARDS.glob("*.json"))
    assert dashboards, "no dashboard JSON"
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        assert dashboard["title"] and dashboard["uid"]
    exprs = " ".join(expr for _, expr in _dashboard_exprs())
    for needed in (
        "webhook_deliveries",  # deliveries by outcome
        "webhook_request_seconds_bucket",  # receiver latency p50/p99
        "inbox_deliveries",  # pending / dead
        "inbox_oldest_pending",  # oldest pending age
        "reconcile_runs",  # by trigger / outcome
        "sync_lag_seconds",  # per repository
        "github_rate_limit_remaining",
    ):
        assert f"catalog_sync_{needed}" in exprs, f"no panel queries catalog_sync_{needed}"
    assert "histogram_quantile(0.5" in exprs and "histogram_quantile(0.99" in exprs


def test_dashboard_queries_metrics_that_exist() -> None:
    names = _require_metrics_source()
    exprs = _dashboard_exprs()
    assert exprs
    for where, expr in exprs:
        used = set(METRIC_RE.findall(expr))
        assert used, f"{where}: {expr!r} queries no catalog_sync_* metric"
        unknown = used - names
        assert not unknown, f"{where}: unknown metrics {unknown} (defined: {sorted(names)})"
