"""Configuration from the environment (and an optional `.env` file), validated once at start.

Every setting is read from `FONDATION_<NAME>`; the runbook's historical names (`WORKER_ID`,
`MAX_CONCURRENT_JOBS`, `POLL_INTERVAL`, `LEASE_TIME`, `HEARTBEAT_INTERVAL`, `TEMP_DIR`) are accepted
as aliases so an operator's existing `.env` keeps working. Inconsistent values are refused with a
message that names the variable to fix, before anything touches the database.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fondation.domain.errors import ConfigError

SECRET_MASK = "****"


def _env(name: str, *aliases: str) -> AliasChoices:
    """Accept `FONDATION_<NAME>` first, then each historical alias."""
    return AliasChoices(f"FONDATION_{name}", *aliases)


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_database_url() -> str:
    """A SQLite file in the user's data directory: the embedded default, no server needed."""
    data_dir = Path(platformdirs.user_data_dir("fondation", appauthor=False))
    return f"sqlite:///{data_dir / 'fondation.db'}"


def default_backup_dir() -> Path:
    """`backups` in the user's data directory, beside the embedded database."""
    return Path(platformdirs.user_data_dir("fondation", appauthor=False)) / "backups"


def mask_url_password(url: str) -> str:
    """Replace the password of a database URL by a mask, so the URL can be shown or logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:{SECRET_MASK}@{host}"))


class Settings(BaseSettings):
    """The effective configuration of one Fondation process."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    database_url: str = Field(default_factory=default_database_url, validation_alias=_env("DATABASE_URL"))
    worker_id: str = Field(default_factory=socket.gethostname, validation_alias=_env("WORKER_ID", "WORKER_ID"))
    max_concurrent_jobs: int = Field(default=1, validation_alias=_env("MAX_CONCURRENT_JOBS", "MAX_CONCURRENT_JOBS"))
    poll_interval_ms: int = Field(default=5000, validation_alias=_env("POLL_INTERVAL", "POLL_INTERVAL"))
    lease_time_ms: int = Field(default=300_000, validation_alias=_env("LEASE_TIME", "LEASE_TIME"))
    heartbeat_interval_ms: int = Field(
        default=60_000, validation_alias=_env("HEARTBEAT_INTERVAL", "HEARTBEAT_INTERVAL")
    )
    temp_dir: Path = Field(default=Path("/tmp/fondation"), validation_alias=_env("TEMP_DIR", "TEMP_DIR"))
    max_attempts: int = Field(default=5, validation_alias=_env("MAX_ATTEMPTS"))
    retry_base_seconds: float = Field(default=5.0, validation_alias=_env("RETRY_BASE_SECONDS"))
    retry_cap_seconds: float = Field(default=600.0, validation_alias=_env("RETRY_CAP_SECONDS"))
    job_timeout_seconds: float = Field(default=3600.0, validation_alias=_env("JOB_TIMEOUT"))
    job_memory_mb: int = Field(default=1536, validation_alias=_env("JOB_MEMORY_MB"))
    worker_memory_mb: int = Field(default=1024, validation_alias=_env("WORKER_MEMORY_MB"))
    min_free_disk_mb: int = Field(default=1024, validation_alias=_env("MIN_FREE_DISK_MB"))
    shutdown_grace_seconds: float = Field(default=30.0, validation_alias=_env("SHUTDOWN_GRACE"))
    reaper_interval_seconds: float = Field(default=30.0, validation_alias=_env("REAPER_INTERVAL"))
    cancel_poll_seconds: float = Field(default=2.0, validation_alias=_env("CANCEL_POLL_INTERVAL"))
    health_host: str = Field(default="127.0.0.1", validation_alias=_env("HEALTH_HOST"))
    health_port: int = Field(default=8080, validation_alias=_env("HEALTH_PORT"))
    log_format: str = Field(default="auto", validation_alias=_env("LOG_FORMAT"))
    log_level: str = Field(default="info", validation_alias=_env("LOG_LEVEL"))
    job_handler: str = Field(default="fondation.worker.course_job:run", validation_alias=_env("JOB_HANDLER"))
    sqlite_busy_timeout_ms: int = Field(default=30_000, validation_alias=_env("SQLITE_BUSY_TIMEOUT"))
    sqlite_synchronous: str = Field(default="FULL", validation_alias=_env("SQLITE_SYNCHRONOUS"))
    #: Where `fondation backup create` writes its archives, and how many of the newest it keeps there (0: all).
    backup_dir: Path = Field(default_factory=default_backup_dir, validation_alias=_env("BACKUP_DIR"))
    backup_keep: int = Field(default=7, validation_alias=_env("BACKUP_KEEP"))
    #: The folder of pg_dump and pg_restore; empty: the newest /usr/lib/postgresql/*/bin, else the PATH.
    pg_bin: str = Field(default="", validation_alias=_env("PG_BIN", "PG_BIN"))
    #: Whether local directories and archives may be submitted (turn off where users are not trusted).
    allow_local_sources: bool = Field(default=True, validation_alias=_env("ALLOW_LOCAL_SOURCES"))
    #: The host that `owner/repo` shorthand means (a GitHub Enterprise host where there is one).
    github_host: str = Field(default="github.com", validation_alias=_env("GITHUB_HOST"))
    #: A token for private repositories over https; handed to one git process at a time, never stored.
    git_token: SecretStr | None = Field(default=None, validation_alias=_env("GIT_TOKEN", "GITHUB_TOKEN"))
    #: Where that token may be sent, comma-separated: `host[:port]` over https, `http://host[:port]` to allow
    #: plain http too. Empty means the GitHub host alone; a source on any other host never sees the token.
    git_token_hosts: str = Field(default="", validation_alias=_env("GIT_TOKEN_HOSTS"))
    clone_timeout_seconds: float = Field(default=300.0, validation_alias=_env("CLONE_TIMEOUT"))
    max_repo_mb: int = Field(default=1024, validation_alias=_env("MAX_REPO_MB"))
    max_files: int = Field(default=50_000, validation_alias=_env("MAX_FILES"))
    max_file_kb: int = Field(default=1024, validation_alias=_env("MAX_FILE_KB"))
    #: Who writes courses by default: offline (no LLM), claude-cli, anthropic or openai.
    provider: str = Field(default="offline", validation_alias=_env("PROVIDER"))
    #: The model, for the providers that need one named (empty: the provider's default).
    model: str = Field(default="", validation_alias=_env("MODEL"))
    #: Calls at once for the chapter, review and tutorial steps.
    llm_parallel: int = Field(default=4, validation_alias=_env("LLM_PARALLEL"))
    llm_call_timeout_seconds: float = Field(default=300.0, validation_alias=_env("LLM_CALL_TIMEOUT"))
    #: What one prompt may carry of the repository, and what one answer may hold (small local models
    #: have small context windows: lower both for them).
    llm_context_tokens: int = Field(default=12_000, validation_alias=_env("LLM_CONTEXT_TOKENS"))
    llm_max_output_tokens: int = Field(default=4096, validation_alias=_env("LLM_MAX_OUTPUT_TOKENS"))
    #: Spending caps per job (0: none); a call that would pass one ends the job with kind `budget`.
    budget_usd: float = Field(default=0.0, validation_alias=_env("BUDGET_USD"))
    max_tokens_per_job: int = Field(default=0, validation_alias=_env("MAX_TOKENS"))
    #: Extra or overriding prices, `model=INPUT/OUTPUT` dollars per million tokens, comma-separated.
    llm_prices: str = Field(default="", validation_alias=_env("LLM_PRICES"))
    claude_command: str = Field(default="claude", validation_alias=_env("CLAUDE_COMMAND"))
    claude_config_dir: Path = Field(default=Path("/srv/claude-creds"), validation_alias=_env("CLAUDE_CONFIG_DIR"))
    #: Where `fondation claude backup` writes its archives (the last 5 are kept) and `restore latest` reads.
    claude_backup_dir: Path = Field(
        default=Path("/srv/backups/claude-creds"), validation_alias=_env("CLAUDE_BACKUP_DIR")
    )
    claude_max_turns: int = Field(default=12, validation_alias=_env("CLAUDE_MAX_TURNS"))
    claude_oauth_token: SecretStr | None = Field(
        default=None, validation_alias=_env("CLAUDE_OAUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str = Field(default="", validation_alias=_env("ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"))
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_env("OPENAI_API_KEY", "OPENAI_API_KEY"))
    openai_base_url: str = Field(default="", validation_alias=_env("OPENAI_BASE_URL", "OPENAI_BASE_URL"))
    #: Signs session cookies and encrypts stored GitHub tokens. Unset: a random key kept in the data
    #: directory, which is fine on one machine; processes that share a database must share this key.
    secret_key: SecretStr | None = Field(default=None, validation_alias=_env("SECRET_KEY"))
    #: The key being replaced, read only by `fondation security rotate-key` (or give it with --old-key-stdin).
    old_secret_key: SecretStr | None = Field(default=None, validation_alias=_env("OLD_SECRET_KEY"))
    web_host: str = Field(default="127.0.0.1", validation_alias=_env("WEB_HOST"))
    web_port: int = Field(default=8000, validation_alias=_env("WEB_PORT"))
    #: The address users reach the web app at (behind a proxy: its https URL). Decides the Secure
    #: cookie flag and the GitHub OAuth callback. Empty: http://WEB_HOST:WEB_PORT.
    public_url: str = Field(default="", validation_alias=_env("PUBLIC_URL"))
    session_hours: float = Field(default=24.0 * 7, validation_alias=_env("SESSION_HOURS"))
    #: Failed logins allowed per user name, and per address, within the window before logins are refused.
    login_max_failures: int = Field(default=5, validation_alias=_env("LOGIN_MAX_FAILURES"))
    login_window_seconds: float = Field(default=900.0, validation_alias=_env("LOGIN_WINDOW"))
    github_client_id: str = Field(default="", validation_alias=_env("GITHUB_CLIENT_ID", "GITHUB_CLIENT_ID"))
    github_client_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("GITHUB_CLIENT_SECRET", "GITHUB_CLIENT_SECRET")
    )
    #: GitHub's web and API base URLs; empty: derived from GITHUB_HOST (github.com, or GitHub Enterprise).
    github_url: str = Field(default="", validation_alias=_env("GITHUB_URL"))
    github_api_url: str = Field(default="", validation_alias=_env("GITHUB_API_URL"))
    #: `fondation monitor`'s thresholds. Jobs waiting longer than STUCK_AFTER while a live worker has a free
    #: slot mean the queue is stuck (P1); an attempt running longer than SLOW_AFTER is slow (P3).
    monitor_stuck_after_seconds: float = Field(default=600.0, validation_alias=_env("MONITOR_STUCK_AFTER"))
    monitor_slow_after_seconds: float = Field(default=1800.0, validation_alias=_env("MONITOR_SLOW_AFTER"))
    #: The share of attempts ending badly over 15 minutes above which the error rate is high (P2), once at
    #: least ERROR_MIN_ATTEMPTS attempts ended (one failure out of one is no rate worth a page).
    monitor_error_rate: float = Field(default=0.5, validation_alias=_env("MONITOR_ERROR_RATE"))
    monitor_error_min_attempts: int = Field(default=5, validation_alias=_env("MONITOR_ERROR_MIN_ATTEMPTS"))
    #: This machine's memory use, in percent, from which memory is near its limit (P2).
    monitor_memory_percent: float = Field(default=90.0, validation_alias=_env("MONITOR_MEMORY_PERCENT"))

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            shown = scheme or "(none)"
            raise ValueError(f"unknown scheme {shown!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")
        return value

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        known = ("offline", "claude-cli", "anthropic", "openai")
        if value not in known:
            raise ValueError(f"must be one of {', '.join(known)}, got {value!r}")
        return value

    @field_validator("budget_usd", "max_tokens_per_job")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"must not be negative (0 means no limit), got {value}")
        return value

    @field_validator("github_host")
    @classmethod
    def _host_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?", value):
            raise ValueError(f"must be a host name such as github.com or github.example.com, got {value!r}")
        return value.lower()

    @field_validator("worker_id")
    @classmethod
    def _worker_id_shape(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 200 or any(ord(c) < 32 for c in value):
            raise ValueError("must be 1 to 200 printable characters")
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _synchronous_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("must be FULL, NORMAL or EXTRA (OFF would lose committed jobs on power loss)")
        return level

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in ("auto", "console", "json"):
            raise ValueError("must be auto, console or json")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("must be debug, info, warning or error")
        return value.lower()

    @field_validator("public_url", "github_url", "github_api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("health_port", "web_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(f"must be a TCP port (0..65535, 0 picks a free one), got {value}")
        return value

    @field_validator("min_free_disk_mb")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"must not be negative (0 disables the check), got {value}")
        return value

    @field_validator("backup_keep")
    @classmethod
    def _keep_count(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"must not be negative (0 keeps every backup), got {value}")
        return value

    @field_validator("monitor_error_rate")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(f"must be a fraction above 0 and at most 1 (0.5 means half the attempts), got {value}")
        return value

    @field_validator("monitor_memory_percent")
    @classmethod
    def _percent(cls, value: float) -> float:
        if not 0 < value <= 100:
            raise ValueError(f"must be a percentage above 0 and at most 100, got {value}")
        return value

    @field_validator("max_concurrent_jobs", "max_attempts", "monitor_error_min_attempts")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator(
        "poll_interval_ms",
        "lease_time_ms",
        "heartbeat_interval_ms",
        "retry_base_seconds",
        "retry_cap_seconds",
        "sqlite_busy_timeout_ms",
        "job_timeout_seconds",
        "job_memory_mb",
        "worker_memory_mb",
        "shutdown_grace_seconds",
        "reaper_interval_seconds",
        "cancel_poll_seconds",
        "clone_timeout_seconds",
        "llm_parallel",
        "llm_call_timeout_seconds",
        "llm_context_tokens",
        "llm_max_output_tokens",
        "claude_max_turns",
        "max_repo_mb",
        "max_files",
        "max_file_kb",
        "session_hours",
        "login_max_failures",
        "login_window_seconds",
        "monitor_stuck_after_seconds",
        "monitor_slow_after_seconds",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.lease_time_ms <= 2 * self.heartbeat_interval_ms:
            raise ValueError(
                f"LEASE_TIME ({self.lease_time_ms} ms) must be more than twice HEARTBEAT_INTERVAL "
                f"({self.heartbeat_interval_ms} ms), or a single late heartbeat loses the lease"
            )
        if self.retry_cap_seconds < self.retry_base_seconds:
            raise ValueError(
                f"FONDATION_RETRY_CAP_SECONDS ({self.retry_cap_seconds}) must not be below "
                f"FONDATION_RETRY_BASE_SECONDS ({self.retry_base_seconds})"
            )
        return self

    @property
    def lease_seconds(self) -> float:
        return self.lease_time_ms / 1000.0

    @property
    def heartbeat_seconds(self) -> float:
        return self.heartbeat_interval_ms / 1000.0

    @property
    def poll_seconds(self) -> float:
        return self.poll_interval_ms / 1000.0

    @cached_property
    def backend(self) -> str:
        """`sqlite` or `postgresql`, from the database URL's scheme."""
        scheme = urlsplit(self.database_url).scheme.split("+", 1)[0]
        return "sqlite" if scheme == "sqlite" else "postgresql"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.web_host}:{self.web_port}"

    @property
    def github_oauth_enabled(self) -> bool:
        return bool(self.github_client_id and self.github_client_secret)

    @property
    def effective_github_url(self) -> str:
        return self.github_url or f"https://{self.github_host}"

    @property
    def effective_github_api_url(self) -> str:
        if self.github_api_url:
            return self.github_api_url
        return "https://api.github.com" if self.github_host == "github.com" else f"https://{self.github_host}/api/v3"

    def public_view(self) -> dict[str, Any]:
        """The effective settings with every secret masked, keyed by their environment variable."""
        view: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if name == "database_url":
                value = mask_url_password(value)
            elif isinstance(value, SecretStr):
                value = "****"
            view[env_name(name)] = str(value) if isinstance(value, Path) else value
        return view


def env_name(field_name: str) -> str:
    """The primary environment variable that sets a field."""
    alias = Settings.model_fields[field_name].validation_alias
    assert isinstance(alias, AliasChoices)
    first = alias.choices[0]
    return first if isinstance(first, str) else field_name.upper()


def _variable_names(field_name: str) -> str:
    alias = Settings.model_fields.get(field_name)
    if alias is None or not isinstance(alias.validation_alias, AliasChoices):
        return field_name
    return " / ".join(str(choice) for choice in alias.validation_alias.choices)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the configuration, turning pydantic's report into one clear line per problem.

    `overrides` (by field name) win over the environment; the CLI uses them for its own flags.
    """
    env_file = os.environ.get("FONDATION_ENV_FILE", ".env")
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{_variable_names(field)}: {message}" if field else message)
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
