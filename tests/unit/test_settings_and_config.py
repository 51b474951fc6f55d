from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import Field, ValidationError

from perpflow.config import ConfigModel, load_yaml
from perpflow.errors import ConfigError
from perpflow.settings import Settings


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
