"""docker-compose.yml runs every perpflow process and the services around them, and everything it
refers to exists: scrape targets, config files, secret mounts, search attributes.

The processes are read from the code (every module of ``workers/`` run as ``python -m``, and the
metrics catalogue's serving processes), never from a copy of the list. Debian's docker-compose
validates the file offline and refuses it while a password is unset; amtool checks the
Alertmanager config (both installed by scripts/system.sh).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from perpflow import names
from perpflow.config import load_yaml
from perpflow.metrics.names import Process
from perpflow.orders.config import SignerConfig
from perpflow.payouts.config import PayoutsConfig

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# Modules of workers/ run as `python -m` that are tools run on demand, not services.
TOOLS = {"replay": "`perpflow history replay` runs it on a saved history"}
# The deployment's own files, which docker-compose is told about by these variables; the test
# points them at the committed examples.
EXAMPLES = {
    "SIGNER_CONFIG": "./config/compose/signer.example.yaml",
    "PAYOUTS_CONFIG": "./config/compose/payouts.example.yaml",
    "ALERTMANAGER_CONFIG": "./config/alertmanager/alertmanager.yml",
}
REQUIRED = {
    **EXAMPLES,
    "TEMPORAL_DB_PASSWORD": "t",
    "LEDGER_DB_PASSWORD": "l",
    "GRAFANA_ADMIN_PASSWORD": "g",
    "LIGHTER_URL": "https://venue.example",
}
INFRASTRUCTURE = (
    "temporal-db", "temporal", "temporal-setup", "temporal-ui", "ledger-db", "ledger-migrate",
    "prometheus", "alertmanager", "grafana",
)  # fmt: skip
ONE_SHOTS = {"temporal-setup", "ledger-migrate"}
METRICS_PORT = "9464"
_VAR = re.compile(r"\$\{(\w+)(:?[-?])?[^}]*\}")


def _interpolate(text: str) -> str:
    """The file as docker-compose reads it with REQUIRED set (``$$`` stays a literal ``$``)."""
    return _VAR.sub(lambda m: REQUIRED.get(m.group(1), ""), text.replace("$$", "\0")).replace("\0", "$")


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(_interpolate(COMPOSE.read_text()))
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def processes() -> dict[str, str]:
    """Service name -> module of every worker module that runs as a process (``__main__``)."""
    found = {}
    for path in sorted((ROOT / "workers").glob("*.py")):
        tree = ast.parse(path.read_text())
        runs = any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body)
        if runs and path.stem not in TOOLS:
            found[path.stem.replace("_", "-")] = f"workers.{path.stem}"
    return found


def docker_compose(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: scripts/system.sh installs Debian's"
    clean = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    return subprocess.run(
        [binary, "config", "-q"], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def mounts(service: str) -> dict[str, str]:
    """Container path -> host path of the service's bind mounts and secrets."""
    spec = services()[service]
    found = {}
    for volume in spec.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith(("./", "/")):
            found[target] = source
    for secret in spec.get("secrets", []):
        name = secret if isinstance(secret, str) else secret["source"]
        target = f"/run/secrets/{name}"
        found[target] = compose()["secrets"][name]["file"]
        assert isinstance(secret, str) or "target" not in secret, "secrets stay at /run/secrets/<name>"
    return found


def readable(service: str, path: str) -> bool:
    """Whether the service sees ``path``: it is a mount's target or lies under one."""
    return any(path == target or path.startswith(target.rstrip("/") + "/") for target in mounts(service))


def file_refs(value: object) -> list[str]:
    """Every ``file:`` secret reference in a loaded config, as container paths."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in file_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in file_refs(v)]
    return [value.removeprefix("file:")] if isinstance(value, str) and value.startswith("file:") else []


# -- validation by docker-compose ------------------------------------------------------------------


def test_docker_compose_accepts_the_file() -> None:
    result = docker_compose(REQUIRED)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_run_without_the_passwords() -> None:
    result = docker_compose({})
    assert result.returncode != 0
    assert re.search(r"set \w+", result.stderr), result.stderr


def test_no_password_or_deployment_file_has_a_default() -> None:
    for match in _VAR.finditer(COMPOSE.read_text()):
        name, operator = match.groups()
        if name in REQUIRED:
            assert operator == ":?", f"${{{name}}} must stop docker-compose while unset: {match.group(0)}"
    for spec in services().values():
        env = spec.get("environment", {})
        for key, value in env.items() if isinstance(env, dict) else []:
            if "PASSWORD" in key or "PWD" in key:
                assert value in REQUIRED.values(), f"{key} has a literal value"


# -- the processes ---------------------------------------------------------------------------------


def test_every_worker_process_is_a_service_running_its_module() -> None:
    for service, module in processes().items():
        assert service in services(), f"no service runs {module}"
        command = services()[service]["command"]
        assert command[:3] == ["python", "-m", module], f"{service} runs {command}, not {module}"


def test_the_metrics_catalogue_serves_from_the_same_services() -> None:
    serving = {p.value for p in Process if p is not Process.EVERY}
    assert serving == set(processes()), "metrics catalogue's processes differ from the workers"


@pytest.mark.parametrize("service", sorted(processes()))
def test_each_process_serves_metrics_and_is_restarted_and_health_checked(service: str) -> None:
    spec = services()[service]
    command = " ".join(spec["command"])
    assert f"--metrics-port {METRICS_PORT}" in command
    assert "--metrics-host 0.0.0.0" in command  # Prometheus reaches it from another container
    assert spec["image"] == services()["ledger-migrate"]["image"], "one image for every process"
    assert spec["restart"] == "unless-stopped"
    assert METRICS_PORT in " ".join(spec["healthcheck"]["test"])
    waits = spec["depends_on"]
    for one_shot in ONE_SHOTS:
        assert waits[one_shot]["condition"] == "service_completed_successfully"


def test_the_services_around_the_processes_are_there_restarted_and_health_checked() -> None:
    for service in INFRASTRUCTURE:
        spec = services()[service]
        if service in ONE_SHOTS:
            assert spec["restart"] == "no"
            continue
        assert spec["restart"] == "unless-stopped", service
        if service != "temporal-ui":  # stateless, nothing waits for it (see its comment)
            assert "healthcheck" in spec, service
    assert services()["temporal"]["environment"]["DB"].startswith("postgres")
    assert services()["ledger-migrate"]["command"] == ["perpflow", "db", "upgrade"]


def test_temporal_setup_registers_every_search_attribute() -> None:
    setup = " ".join(services()["temporal-setup"]["command"])
    for attribute in names.SEARCH_ATTRIBUTES:
        assert re.search(rf"\b{attribute.name}\b", setup), attribute.name


def test_only_the_signer_and_the_wallet_see_keys() -> None:
    holders = {"signer": "/run/secrets/signer", "wallet": "/run/secrets/payout_wallet_key"}
    for service in services():
        for target in mounts(service):
            for holder, key_path in holders.items():
                if target == key_path:
                    assert service == holder, f"{service} mounts {key_path}"


# -- what the file refers to -----------------------------------------------------------------------


def test_every_referenced_file_exists_or_is_an_ignored_secret() -> None:
    for service in services():
        for target, source in mounts(service).items():
            path = (ROOT / source).resolve()
            relative = path.relative_to(ROOT)
            if relative.parts[0] == "secrets":
                ignored = subprocess.run(["git", "check-ignore", "-q", str(relative)], cwd=ROOT)
                assert ignored.returncode == 0, f"{relative} ({service}) must be ignored by git"
            else:
                assert path.exists(), f"{service} mounts {source} at {target}: missing"
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        for source in line.split()[1:-1] if line.startswith("COPY ") else []:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}: missing"


def test_prometheus_scrapes_every_process_and_sends_alerts_to_alertmanager() -> None:
    config_dir = Path(mounts("prometheus")["/etc/prometheus"])
    config = yaml.safe_load((ROOT / config_dir / "prometheus.yml").read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    for target in targets:
        host, _, port = target.partition(":")
        assert host in services(), f"Prometheus scrapes {target}: no such service"
        if host in processes():
            assert port == METRICS_PORT, target
    missing = sorted(set(processes()) - {t.partition(":")[0] for t in targets})
    assert not missing, f"Prometheus scrapes no {', '.join(missing)}"
    managers = config["alerting"]["alertmanagers"]
    assert [t for m in managers for s in m["static_configs"] for t in s["targets"]] == ["alertmanager:9093"]
    for pattern in config.get("rule_files", []):
        assert list((ROOT / config_dir).glob(pattern)), f"rule_files {pattern}: no file"


def test_grafana_is_provisioned_with_the_prometheus_of_the_stack() -> None:
    provisioning = ROOT / mounts("grafana")["/etc/grafana/provisioning"]
    [datasources] = (provisioning / "datasources").glob("*.yaml")
    found = {d["type"]: d for d in yaml.safe_load(datasources.read_text())["datasources"]}
    assert found["prometheus"]["url"] == "http://prometheus:9090"
    assert found["prometheus"]["uid"] == "prometheus"
    assert found["alertmanager"]["url"] == "http://alertmanager:9093"
    for providers in (provisioning / "dashboards").glob("*.y*ml"):
        for provider in yaml.safe_load(providers.read_text())["providers"]:
            path = provider["options"]["path"]
            assert readable("grafana", path), f"dashboards at {path} are not mounted in grafana"
            source = ROOT / mounts("grafana")[path]
            assert list(source.glob("*.json")), f"no dashboard in {source.relative_to(ROOT)}"


def test_alertmanager_config_is_valid_and_its_password_is_a_mounted_secret() -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: scripts/system.sh installs prometheus-alertmanager"
    path = ROOT / EXAMPLES["ALERTMANAGER_CONFIG"]
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    assert readable("alertmanager", config["global"]["smtp_auth_password_file"])
    assert config["global"]["smtp_require_tls"] is True


def test_the_example_configs_load_and_their_keys_are_mounted_where_they_are_read() -> None:
    signer_raw = yaml.safe_load((ROOT / EXAMPLES["SIGNER_CONFIG"]).read_text())
    load_yaml(ROOT / EXAMPLES["SIGNER_CONFIG"], SignerConfig)
    for ref in file_refs(signer_raw["accounts"]):
        assert readable("signer", ref), f"signer config names {ref}, not mounted in the signer"
    for ref in file_refs(signer_raw.get("proxies", [])):
        assert readable("signer", ref) and readable("market-data", ref), ref
    payouts = load_yaml(ROOT / EXAMPLES["PAYOUTS_CONFIG"], PayoutsConfig)
    assert readable("wallet", payouts.wallet.key.removeprefix("file:"))
    for service in ("orchestrator", "wallet", "chain-watcher"):
        assert readable(service, services()[service]["environment"]["PERPFLOW_PAYOUTS_CONFIG"])
    for service in ("signer", "market-data"):
        assert readable(service, "/etc/perpflow/signer.yaml")


def test_every_variable_and_key_file_is_documented() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    example = (ROOT / "config" / "compose" / "compose.env.example").read_text()
    used = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    for name in {m.group(1) for m in _VAR.finditer(used)}:
        assert f"`{name}" in deploy, f"docs/deploy.md does not explain {name}"
        assert re.search(rf"^{name}=", example, re.M), f"compose.env.example has no {name}"
    for service in services():
        for source in mounts(service).values():
            if source.startswith("./secrets/"):
                assert f"`{source.removeprefix('./')}" in deploy, f"docs/deploy.md does not list {source}"


def test_compose_temporal_has_the_embedded_stacks_dynamic_config() -> None:
    from perpflow.devstack.temporal import DYNAMIC_CONFIG

    compose = yaml.safe_load((ROOT / "config/temporal/dynamicconfig.yaml").read_text())
    assert {key: str(entries[0]["value"]) for key, entries in compose.items()} == DYNAMIC_CONFIG
