from __future__ import annotations

from pathlib import Path

import pytest

from covidlake.errors import ConfigError
from covidlake.settings import load_settings, redact


@pytest.mark.parametrize(
    ("toml", "env", "flags", "expected_lake"),
    [
        ("", {}, {}, "./lake"),
        ('lake = "from-toml"', {}, {}, "from-toml"),
        ('lake = "from-toml"', {"COVIDLAKE_LAKE": "from-env"}, {}, "from-env"),
        ('lake = "from-toml"', {"COVIDLAKE_LAKE": "from-env"}, {"lake": "from-flag"},
         "from-flag"),
        ("", {}, {"lake": None}, "./lake"),  # an option not given does not override
    ],
)
def test_precedence_flag_env_toml(tmp_path: Path, toml: str, env: dict[str, str],
                                  flags: dict[str, str | None], expected_lake: str) -> None:
    (tmp_path / "covidlake.toml").write_text(toml)
    assert load_settings(flags, cwd=tmp_path, environ=env).lake == expected_lake


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://etl:hunter2@127.0.0.1:5432/covid", "postgresql://etl:***@127.0.0.1:5432/covid"),
        ("redshift://u:p%40ss@h/db and s3://bucket/key", "redshift://u:***@h/db and s3://bucket/key"),
        ("./covidlake.duckdb", "./covidlake.duckdb"),
        ("duckdb:///tmp/x.duckdb", "duckdb:///tmp/x.duckdb"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_password_in_config_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "covidlake.toml").write_text('warehouse = "postgresql://u:hunter2@h/db"')
    with pytest.raises(ConfigError, match="password") as err:
        load_settings({}, cwd=tmp_path, environ={})
    assert "hunter2" not in str(err.value)


def test_unknown_setting_is_named(tmp_path: Path) -> None:
    (tmp_path / "covidlake.toml").write_text('lak = "typo"')
    with pytest.raises(ConfigError, match="'lak'"):
        load_settings({}, cwd=tmp_path, environ={})


def test_describe_redacts_the_warehouse_password() -> None:
    s = load_settings({"warehouse": "postgresql://etl:hunter2@h/db"}, environ={})
    assert "hunter2" not in str(s.describe())
