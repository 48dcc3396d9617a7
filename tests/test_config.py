"""Configuration: defaults, the runbook's variable names, .env files, and refusals that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from fondation.config import Settings, load_settings, mask_url_password
from fondation.domain.errors import ConfigError

RUNBOOK_NAMES = (
    "WORKER_ID",
    "MAX_CONCURRENT_JOBS",
    "POLL_INTERVAL",
    "LEASE_TIME",
    "HEARTBEAT_INTERVAL",
    "TEMP_DIR",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in RUNBOOK_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("FONDATION_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FONDATION_ENV_FILE", str(tmp_path / "absent.env"))


def test_defaults_are_the_runbooks() -> None:
    settings = load_settings()
    assert (
        settings.max_concurrent_jobs,
        settings.poll_interval_ms,
        settings.lease_time_ms,
        settings.heartbeat_interval_ms,
        settings.temp_dir,
    ) == (1, 5000, 300_000, 60_000, Path("/tmp/fondation"))
    assert settings.backend == "sqlite" and settings.database_url.endswith("fondation.db")
    assert settings.worker_id


def test_runbook_aliases_and_prefixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_ID", "scaleway-worker-backup")
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", "3")
    monkeypatch.setenv("LEASE_TIME", "90000")
    monkeypatch.setenv("HEARTBEAT_INTERVAL", "20000")
    monkeypatch.setenv("FONDATION_POLL_INTERVAL", "250")
    monkeypatch.setenv("FONDATION_DATABASE_URL", "postgresql://u:pw@db.internal/fondation")
    settings = load_settings()
    assert settings.worker_id == "scaleway-worker-backup"
    assert (settings.max_concurrent_jobs, settings.lease_seconds, settings.heartbeat_seconds) == (
        3,
        90.0,
        20.0,
    )
    assert settings.poll_seconds == 0.25 and settings.backend == "postgresql"


def test_prefixed_name_wins_over_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_ID", "old")
    monkeypatch.setenv("FONDATION_WORKER_ID", "new")
    assert load_settings().worker_id == "new"


def test_env_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_CONCURRENT_JOBS=2\nFONDATION_TEMP_DIR=/srv/tmp\n")
    monkeypatch.setenv("FONDATION_ENV_FILE", str(env_file))
    settings = load_settings()
    assert settings.max_concurrent_jobs == 2 and settings.temp_dir == Path("/srv/tmp")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"LEASE_TIME": "100000", "HEARTBEAT_INTERVAL": "60000"},
            "LEASE_TIME (100000 ms) must be more than twice",
        ),
        ({"MAX_CONCURRENT_JOBS": "0"}, "MAX_CONCURRENT_JOBS: must be at least 1"),
        ({"POLL_INTERVAL": "-5"}, "POLL_INTERVAL: must be positive"),
        ({"FONDATION_HEARTBEAT_INTERVAL": "-1"}, "HEARTBEAT_INTERVAL: must be positive"),
        ({"FONDATION_DATABASE_URL": "mysql://root@db/x"}, "FONDATION_DATABASE_URL: unknown scheme 'mysql'"),
        ({"MAX_CONCURRENT_JOBS": "many"}, "MAX_CONCURRENT_JOBS"),
        (
            {"FONDATION_SQLITE_SYNCHRONOUS": "OFF"},
            "FONDATION_SQLITE_SYNCHRONOUS: must be FULL, NORMAL or EXTRA",
        ),
        ({"WORKER_ID": "bad\nid"}, "WORKER_ID: must be 1 to 200 printable characters"),
        ({"FONDATION_HEALTH_PORT": "70000"}, "FONDATION_HEALTH_PORT: must be a TCP port"),
        ({"FONDATION_LOG_FORMAT": "xml"}, "FONDATION_LOG_FORMAT: must be auto, console or json"),
        ({"FONDATION_MIN_FREE_DISK_MB": "-1"}, "FONDATION_MIN_FREE_DISK_MB: must not be negative"),
        ({"FONDATION_JOB_TIMEOUT": "0"}, "FONDATION_JOB_TIMEOUT: must be positive"),
        ({"FONDATION_JOB_MEMORY_MB": "-5"}, "FONDATION_JOB_MEMORY_MB: must be positive"),
    ],
)
def test_inconsistent_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_public_view_masks_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FONDATION_DATABASE_URL", "postgresql://fondation:hunter2@db:5432/fondation")
    view = load_settings().public_view()
    assert view["FONDATION_DATABASE_URL"] == "postgresql://fondation:****@db:5432/fondation"
    assert "hunter2" not in str(view)
    assert set(view) >= {"FONDATION_WORKER_ID", "FONDATION_LEASE_TIME", "FONDATION_TEMP_DIR"}


def test_mask_leaves_passwordless_urls_alone() -> None:
    assert mask_url_password("sqlite:////var/lib/f.db") == "sqlite:////var/lib/f.db"
    assert mask_url_password("postgresql://u@h/db") == "postgresql://u@h/db"


def test_settings_accept_overrides_by_field_name() -> None:
    assert Settings(worker_id="cli-override").worker_id == "cli-override"  # type: ignore[call-arg]
