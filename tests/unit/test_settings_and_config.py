from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import Field, ValidationError

from perpflow.config import ConfigModel, load_yaml
from perpflow.errors import ConfigError
from perpflow.settings import READ_ELSEWHERE, Settings

ROOT = Path(__file__).parents[2]
# Files that name wrong PERPFLOW_* variables on purpose, to see them refused.
DELIBERATE_TYPOS = {Path(__file__), ROOT / "tests/unit/test_cli_errors.py"}


class Leg(ConfigModel):
    market: str
    size: Decimal = Field(gt=0)


class Strategy(ConfigModel):
    name: str
    legs: list[Leg]


def test_settings_read_the_perpflow_prefix_and_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPFLOW_TEMPORAL_ADDRESS", "temporal:7233")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/ledger")
    settings = Settings()
    assert settings.temporal_address == "temporal:7233"
    assert settings.temporal_namespace == "perpflow"
    assert settings.ledger_url == "postgresql://db/ledger"


def test_settings_default_ledger_is_a_sqlite_file_in_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, DATABASE_URL=None)
    assert settings.ledger_url == f"sqlite:///{tmp_path.resolve() / 'ledger.db'}"


def test_settings_reject_an_unknown_key() -> None:
    with pytest.raises(ValidationError, match="temporal_adress"):
        Settings(temporal_adress="x")  # type: ignore[call-arg]


def test_an_unknown_perpflow_variable_in_the_environment_is_an_error_naming_the_close_valid_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERPFLOW_TEMPORAL_ADRESS", "temporal:7233")
    with pytest.raises(ConfigError) as exc:
        Settings()
    assert str(exc.value) == (
        "invalid settings: unknown environment variable PERPFLOW_TEMPORAL_ADRESS "
        "(did you mean PERPFLOW_TEMPORAL_ADDRESS?)"
    )


def test_every_unknown_variable_is_named_lower_case_too_and_a_suggestion_only_when_one_is_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("perpflow_state_dri", "state")
    monkeypatch.setenv("PERPFLOW_ZZZ", "1")
    with pytest.raises(ConfigError) as exc:
        Settings()
    assert str(exc.value) == (
        "invalid settings: unknown environment variables PERPFLOW_ZZZ, "
        "perpflow_state_dri (did you mean PERPFLOW_STATE_DIR?)"
    )


def test_perpflow_variables_read_outside_settings_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in READ_ELSEWHERE:
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("PERPFLOW_TEMPORAL_ADDRESS", "temporal:7233")
    assert Settings().temporal_address == "temporal:7233"


def test_every_perpflow_variable_the_repository_names_is_a_setting_or_allowed() -> None:
    settings = {f"PERPFLOW_{name.upper()}" for name in Settings.model_fields}
    roots = [
        ROOT / d for d in ("perpflow", "workers", "workflows", "activities", "tests", "bench", "scripts")
    ]
    files = [f for r in roots for f in r.rglob("*") if f.suffix in {".py", ".sh", ".yml", ".yaml"}]
    files += [ROOT / n for n in ("Makefile", "Dockerfile", "docker-compose.yml", ".ci/run")]
    files += list((ROOT / "config").glob("*.yaml"))
    named = {
        (name, str(f.relative_to(ROOT)))
        for f in files
        if f.is_file() and f not in DELIBERATE_TYPOS
        for name in re.findall(r"PERPFLOW_[A-Z0-9_]*[A-Z0-9]", f.read_text(errors="replace"))
    }
    assert [(n, f) for n, f in sorted(named) if n not in settings | READ_ELSEWHERE] == []


def test_settings_keep_the_api_key_secret() -> None:
    settings = Settings(temporal_api_key="tk-very-secret")  # type: ignore[arg-type]
    assert "tk-very-secret" not in repr(settings)
    assert "tk-very-secret" not in settings.model_dump_json()


def test_settings_need_both_halves_of_a_tls_pair(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(temporal_tls_cert=tmp_path / "c.pem")


def test_yaml_config_loads_into_the_model(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: demo\nlegs:\n  - market: ETH\n    size: '0.05'\n")
    assert load_yaml(path, Strategy).legs[0].size == Decimal("0.05")


def test_yaml_config_typo_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: demo\nlegs:\n  - market: ETH\n    sise: '0.05'\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml(path, Strategy)
    assert str(path) in str(exc.value)
    assert "legs.0.sise" in str(exc.value)


def test_yaml_config_bad_value_and_bad_syntax_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: demo\nlegs:\n  - market: ETH\n    size: -1\n")
    with pytest.raises(ConfigError, match=r"legs\.0\.size: Input should be greater than 0"):
        load_yaml(path, Strategy)
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(path, Strategy)
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml", Strategy)
