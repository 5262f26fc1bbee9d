"""Configuration: read in one place, documented in full, and a bad value stops the start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from mediacraft.config import PREFIX, Config, ConfigError

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NAMES = {PREFIX + f.name.upper(): f for f in fields(Config)}
SOURCES = [*sorted((ROOT / "mediacraft").rglob("*.py")), ROOT / "app.py", ROOT / "gunicorn.conf.py"]


def readme_rows() -> dict[str, str]:
    """``MEDIACRAFT_X`` -> the default cell of its row in README's configuration table."""
    rows = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith(f"`{PREFIX}"):
            for name in re.findall(rf"`({PREFIX}[A-Z0-9_]+)`", cells[0]):
                rows[name] = cells[2]
    return rows


def test_readme_lists_every_setting_with_its_default() -> None:
    rows = readme_rows()
    missing = sorted(set(NAMES) - set(rows))
    assert not missing, f"README's configuration table lacks {missing}"
    unknown = sorted(set(rows) - set(NAMES))
    assert not unknown, f"README documents settings Config does not read: {unknown}"
    for name, f in NAMES.items():
        default = f.default if f.default is not MISSING else None
        if isinstance(default, bool):
            assert str(default).lower() in rows[name].lower(), name
        elif isinstance(default, (int, float)):
            shown = str(default) if isinstance(default, int) else f"{default:g}"
            assert shown in rows[name].replace(",", ""), (name, rows[name], default)
        elif isinstance(default, str) and default:
            assert default in rows[name], (name, rows[name], default)


def test_no_module_reads_a_setting_from_the_environment_itself() -> None:
    for path in SOURCES:
        if path.name == "config.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"os\.environ|getenv", text), f"{path} reads the environment"
        for name in re.findall(rf"\b{PREFIX}[A-Z0-9_]*[A-Z0-9]\b", text):
            assert name in NAMES, f"{path} names {name}, which Config does not read"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("MEDIACRAFT_GUNICORN_TIMEOUT", "soon", "is not a valid int"),
        ("MEDIACRAFT_COOKIE_SECURE", "maybe", "is not a valid bool"),
        ("MEDIACRAFT_POLL_SECONDS", "0", "must be more than 0"),
        ("MEDIACRAFT_MAX_CLIPS", "0", "must be at least 1"),
        ("MEDIACRAFT_MIN_FREE_MB", "-1", "must not be negative"),
        ("MEDIACRAFT_PORT", "70000", "from 1 to 65535"),
        ("MEDIACRAFT_LOG_LEVEL", "LOUD", "must be one of"),
        ("MEDIACRAFT_STORAGE", "postgres", "'file', 'sqlite' or a postgresql:// URL"),
        ("MEDIACRAFT_DATABASE_URL", "mysql://db/x", "must be a postgresql:// URL"),
        ("MEDIACRAFT_DB_POOL_MAX", "0", "which must be at least 1"),
        ("MEDIACRAFT_DB_POOL_TIMEOUT", "0", "must be more than 0"),
        ("MEDIACRAFT_LOG_FORMAT", "xml", "'text' or 'json'"),
        ("MEDIACRAFT_WORKER_NICE", "40", "between 0 and 19"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        Config.from_env({variable: value})
    assert says in str(raised.value)


def test_settings_are_read_with_their_types() -> None:
    config = Config.from_env(
        {
            "MEDIACRAFT_COOKIE_SECURE": "off",
            "MEDIACRAFT_GUNICORN_THREADS": "8",
            "MEDIACRAFT_BIND": "127.0.0.1:9000",
            "MEDIACRAFT_ALLOWED_NETWORKS": "127.0.0.1, ::1",
            "MEDIACRAFT_HEARTBEAT_SECONDS": "0.5",
        }
    )
    assert config.cookie_secure is False and config.gunicorn_threads == 8
    assert config.event_stream_limit == 6  # two threads stay for the API
    assert config.allowed_networks == ("127.0.0.1", "::1") and config.heartbeat_seconds == 0.5


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    return {**env, **settings}


def test_the_app_does_not_start_with_a_bad_value(tmp_path: Path) -> None:
    env = _env(MEDIACRAFT_DATA_DIR=str(tmp_path), MEDIACRAFT_MAX_CLIPS="many")
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "MEDIACRAFT_MAX_CLIPS='many' is not a valid int" in result.stderr


def test_gunicorn_does_not_start_with_a_bad_value(tmp_path: Path) -> None:
    env = _env(MEDIACRAFT_DATA_DIR=str(tmp_path), MEDIACRAFT_GUNICORN_WORKERS="two")
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--check-config", "app:app"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "MEDIACRAFT_GUNICORN_WORKERS='two' is not a valid int" in result.stdout + result.stderr


def test_the_gunicorn_settings_come_from_config(tmp_path: Path) -> None:
    env = _env(
        MEDIACRAFT_BIND="127.0.0.1:9123",
        MEDIACRAFT_GUNICORN_WORKERS="3",
        MEDIACRAFT_GUNICORN_TIMEOUT="77",
        MEDIACRAFT_ACCESS_LOG="-",
    )
    probe = (
        "import runpy; s = runpy.run_path('gunicorn.conf.py'); "
        "print(s['bind'], s['workers'], s['timeout'], s['accesslog'], s['threads'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.split() == ["['127.0.0.1:9123']", "3", "77", "-", "64"]


def test_the_command_line_names_a_bad_value(tmp_path: Path) -> None:
    env = _env(MEDIACRAFT_DATA_DIR=str(tmp_path), MEDIACRAFT_PORT="web")
    result = subprocess.run(
        [sys.executable, "-m", "mediacraft.cli", "serve"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "MEDIACRAFT_PORT='web' is not a valid int" in result.stderr
    assert "Traceback" not in result.stderr
