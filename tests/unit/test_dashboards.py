"""The Grafana dashboards: committed JSON is what perpflow.dashboards builds, and Grafana's
provisioning (datasource, dashboard provider, docker-compose's mounts) finds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from perpflow.dashboards import BOARDS
from perpflow.dashboards.__main__ import main, stale, write

ROOT = Path(__file__).parents[2]
DASHBOARDS = ROOT / "config" / "grafana" / "dashboards"
PROVISIONING = ROOT / "config" / "grafana" / "provisioning"


def _committed() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))]


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_committed_dashboards_are_what_the_code_builds() -> None:
    assert stale(DASHBOARDS) == [], "run `python -m perpflow.dashboards` and commit config/grafana/dashboards"


def test_check_mode_finds_an_edited_a_missing_and_an_extra_file(tmp_path: Path) -> None:
    write(tmp_path)
    assert main(["--out", str(tmp_path), "--check"]) == 0
    edited, missing = tmp_path / f"{BOARDS[0].uid}.json", tmp_path / f"{BOARDS[1].uid}.json"
    edited.write_text(edited.read_text().replace('"refresh": "30s"', '"refresh": "5s"'))
    missing.unlink()
    (tmp_path / "hand-made.json").write_text("{}")
    assert stale(tmp_path) == sorted([edited.name, missing.name, "hand-made.json"])
    assert main(["--out", str(tmp_path), "--check"]) == 1
    write(tmp_path)
    assert stale(tmp_path) == []


def test_the_five_dashboards_of_the_issue_exist() -> None:
    titles = {board["title"] for board in _committed()}
    wanted = {"Fleet overview", "Hedge latency", "Grids", "Payouts", "Venues & streams"}
    assert titles == {f"perpflow / {t}" for t in wanted}


@pytest.mark.parametrize("board", _committed(), ids=lambda b: b["uid"])
def test_grafana_s_model_reads_the_dashboard_back(board: dict[str, Any]) -> None:
    register_default_plugins()
    model = Dashboard.from_json(board)
    assert model.uid == board["uid"]
    assert len(model.panels or []) == len(board["panels"])


@pytest.mark.parametrize("board", _committed(), ids=lambda b: b["uid"])
def test_panels_have_unique_ids_queries_unique_ref_ids_and_fit_the_grid(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids) and 0 not in ids
    for panel in _panels(board):
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs) and "" not in refs, panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]


def test_every_query_goes_to_the_provisioned_prometheus_datasource() -> None:
    sources = [
        source
        for path in (PROVISIONING / "datasources").glob("*.y*ml")
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    provisioned = {(s["type"], s["uid"]) for s in sources}
    for board in _committed():
        used = [t["datasource"] for p in _panels(board) for t in p["targets"]]
        used += [p["datasource"] for p in _panels(board)]
        used += [a["datasource"] for a in board["annotations"]["list"]]
        used += [v["datasource"] for v in board["templating"].get("list", [])]
        assert {(d["type"], d["uid"]) for d in used} <= provisioned, board["uid"]


def test_the_provider_loads_the_folder_docker_compose_mounts_from_config_grafana_dashboards() -> None:
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "perpflow.yml").read_text())["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(
        reversed(volume.split(":")[:2]) for volume in compose["services"]["grafana"]["volumes"]
    )  # container path -> host path
    assert mounts.get(provider["options"]["path"]) == "./config/grafana/dashboards"
    assert mounts.get("/etc/grafana/provisioning") == "./config/grafana/provisioning"
