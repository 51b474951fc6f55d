"""The Prometheus alert rules of config/prometheus/rules, checked and unit-tested by promtool.

``promtool check rules`` validates every file (syntax, templates, duplicate rules);
``promtool test rules`` runs the cases of tests/promtool against them, where every alert has a case
in which it fires and one in which it does not. The rules' labels and annotations are what
Alertmanager routes on and what the e-mail shows, so their presence is checked here too.
The Grafana dashboards' queries are parsed by promtool too (as recording rules), with Grafana's
variables replaced by what Grafana would send. promtool comes with Debian's ``prometheus`` package
(scripts/system.sh installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
RULES = ROOT / "config" / "prometheus" / "rules"
CASES = ROOT / "tests" / "promtool"
DASHBOARDS = ROOT / "config" / "grafana" / "dashboards"
# Grafana's variables as Grafana substitutes them: an interval, and "All" of a multi-value variable.
_INTERVAL = re.compile(r"\$__(rate_)?interval")
_VARIABLE = re.compile(r"\$\w+")
SEVERITIES = {"critical", "warning"}
AREAS = {"trading", "market-data", "payouts", "platform"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make test` installs Debian's prometheus (scripts/system.sh)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def _files(folder: Path, pattern: str) -> list[Path]:
    found = sorted(folder.glob(pattern))
    assert found, f"no {pattern} in {folder}"
    return found


@cache
def _alert_rules() -> tuple[dict[str, Any], ...]:
    rules = []
    for path in _files(RULES, "*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [rule for rule in group["rules"] if "alert" in rule]
    return tuple(rules)


@cache
def _cases() -> tuple[dict[str, Any], ...]:
    return tuple(yaml.safe_load(path.read_text()) for path in _files(CASES, "*.test.yml"))


def test_promtool_accepts_every_rule_file() -> None:
    done = _promtool("check", "rules", *map(str, _files(RULES, "*.yml")))
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_config_loads_every_rule_file() -> None:
    done = _promtool("check", "config", str(RULES.parent / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(_files(RULES, '*.yml'))} rule files found" in done.stdout, done.stdout


def test_promtool_rule_cases_pass() -> None:
    done = _promtool("test", "rules", *map(str, _files(CASES, "*.test.yml")))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_alert_has_a_severity_an_area_a_summary_and_a_description(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["labels"]["area"] in AREAS
    assert rule["annotations"]["summary"].strip()
    assert rule["annotations"]["description"].strip()


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    fired: dict[str, set[str]] = defaultdict(set)  # alertname -> severities expected to fire
    quiet: set[str] = set()
    for suite in _cases():
        for case in suite["tests"]:
            for check in case.get("alert_rule_test", []):
                expected = check.get("exp_alerts") or []
                fired[check["alertname"]] |= {a["exp_labels"]["severity"] for a in expected}
                if not expected:
                    quiet.add(check["alertname"])
    for rule in _alert_rules():
        name, severity = rule["alert"], rule["labels"]["severity"]
        assert severity in fired[name], f"no promtool case fires {name} ({severity})"
        assert name in quiet, f"no promtool case in which {name} stays quiet"


def test_every_rule_file_is_loaded_by_a_case_file() -> None:
    loaded = {
        (CASES / rule_file).resolve() for suite in _cases() for rule_file in suite.get("rule_files", [])
    }
    assert set(_files(RULES, "*.yml")) <= loaded


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    exprs = [
        target["expr"]
        for path in _files(DASHBOARDS, "*.json")
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]
    rules = [
        {"record": f"dashboard_query_{n}", "expr": _VARIABLE.sub(".*", _INTERVAL.sub("1m", expr))}
        for n, expr in enumerate(exprs)
    ]
    (tmp_path / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    done = _promtool("check", "rules", str(tmp_path / "queries.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rules)} rules found" in done.stdout
