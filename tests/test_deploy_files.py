"""The deployment files under deploy/, validated offline with the tools that will read them.

No Docker engine is at hand, so the image is not built: the Dockerfile is parsed instruction by
instruction and the compose file with PyYAML, and both are held to what the settings, the CLI and the
worker really are. The systemd units go through `systemd-analyze verify` and `security`, the alert rules
through `promtool check rules` and `promtool test rules`, the logrotate snippet through a real rotation.
The health checks of the Dockerfile and the compose file run against a real worker and a real web app.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fondation.config import Settings, default_database_url, env_name
from fondation.worker.metrics import memory_limit_bytes
from helpers import source
from worker_harness import FONDATION, TESTS_DIR, WorkerProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = ("fondation-worker.service", "fondation-web.service")
RULES = DEPLOY / "prometheus" / "fondation-alerts.yml"
GiB = 1024**3
SHUTDOWN_GRACE = Settings.model_fields["shutdown_grace_seconds"].default
SETTING_NAMES = {env_name(field) for field in Settings.model_fields}


def tool(name: str, package: str) -> str:
    """The path of a command the checks need; a missing one fails the test with what to install."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")  # logrotate: not on a user's PATH
    if found is None:
        pytest.fail(
            f"`{name}` is missing: install the Debian package `{package}` (scripts/install-system-deps.sh "
            "installs it when run as root)"
        )
    return found


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **kwargs)


# ---------------------------------------------------------------------------------------------- systemd


def unit_directives(path: Path) -> dict[str, dict[str, list[str]]]:
    """Section → directive → every value it is given, in order (Environment= may come several times)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file-system root for `systemd-analyze --root`: this machine's unit library (the targets every
    service depends on by default), the units exactly as shipped, and their ExecStart programs as stubs
    (verify checks that the program exists and is executable; /opt/fondation is not installed here)."""
    library = Path("/usr/lib/systemd/system")
    if not (library / "sysinit.target").is_file():
        pytest.fail(f"{library} has no systemd unit library: install the Debian package `systemd`")
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(library, root / library.relative_to("/"), symlinks=True)
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for name in UNITS:
        shutil.copy(DEPLOY / name, units / name)
        program = Path(unit_directives(DEPLOY / name)["Service"]["ExecStart"][-1].split()[0])
        stub = root / program.relative_to("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def test_systemd_verifies_both_units(unit_root: Path) -> None:
    analyze = tool("systemd-analyze", "systemd")
    done = run([analyze, f"--root={unit_root}", "verify", *UNITS])
    # Unknown directives and misplaced keys are only warnings (exit 0): any output is a failure here.
    assert (done.returncode, done.stdout + done.stderr) == (0, ""), done.stdout + done.stderr


def test_systemd_verify_has_teeth(unit_root: Path) -> None:
    """The same check on a unit with a misspelt directive and one in the wrong section does complain."""
    analyze = tool("systemd-analyze", "systemd")
    text = (DEPLOY / "fondation-worker.service").read_text()
    text = text.replace("MemoryMax=2G", "MemoryMaximum=2G").replace("[Install]", "[Install]\nRestart=always")
    (unit_root / "etc/systemd/system/fondation-typo.service").write_text(text)
    done = run([analyze, f"--root={unit_root}", "verify", "fondation-typo.service"])
    assert "Unknown key 'MemoryMaximum'" in done.stderr and "Unknown key 'Restart'" in done.stderr, done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_the_units_sandbox_rates_ok(unit_root: Path, unit: str) -> None:
    """`systemd-analyze security` scores exposure 0 (locked down) to 10; at most 4 is its "OK" band."""
    analyze = tool("systemd-analyze", "systemd")
    done = run([analyze, f"--root={unit_root}", "security", "--offline=yes", "--threshold=40", "--no-pager", unit])
    assert done.returncode == 0, done.stdout + done.stderr
    score = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", done.stdout)
    assert score is not None and float(score.group(1)) <= 4.0, done.stdout[-500:]


@pytest.mark.parametrize(
    ("unit", "command"), [("fondation-worker.service", "worker"), ("fondation-web.service", "serve")]
)
def test_the_units_run_fondation_as_the_runbook_needs(unit: str, command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = unit_directives(DEPLOY / unit)["Service"]

    def one(key: str) -> str:
        assert key in service, f"{unit}: no {key}="
        return service[key][-1]

    assert one("Type") == "simple" and one("User") == "fondation"
    assert one("EnvironmentFile") == "/etc/fondation/fondation.env"
    assert one("ExecStart") == f"/opt/fondation/.venv/bin/fondation {command}"
    # SIGTERM to the main process only: the jobs' children must run on through the drain.
    assert (one("KillSignal"), one("KillMode"), one("Restart")) == ("SIGTERM", "mixed", "on-failure")
    assert (one("NoNewPrivileges"), one("ProtectSystem"), one("PrivateTmp")) == ("yes", "strict", "yes")

    environment = dict(value.split("=", 1) for value in service.get("Environment", []))
    assert set(environment) - {"XDG_DATA_HOME"} <= SETTING_NAMES, "an Environment= name that is no setting"
    writable = one("ReadWritePaths").split()
    # The data directory, as Fondation itself derives it under the unit's XDG_DATA_HOME.
    monkeypatch.setenv("XDG_DATA_HOME", environment["XDG_DATA_HOME"])
    data_dir = Path(default_database_url().removeprefix("sqlite:///")).parent
    assert str(data_dir) in writable and data_dir == Path("/var/lib") / one("StateDirectory")
    if command == "worker":
        assert float(one("TimeoutStopSec").removesuffix("s")) > SHUTDOWN_GRACE
        assert one("MemoryMax") == "2G"
        temp_dir = environment["FONDATION_TEMP_DIR"]
        assert temp_dir in writable
        # PrivateTmp would hide a TEMP_DIR under /tmp from the operator's `fondation tmp clean`.
        assert not temp_dir.startswith(("/tmp/", "/var/tmp/"))


# ---------------------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.prod.yml").read_text())
    assert isinstance(loaded, dict) and isinstance(loaded.get("services"), dict)
    return loaded


def volume_mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Target → (source, mode) of a service's short-syntax volumes."""
    mounts = {}
    for entry in service.get("volumes", []):
        source_name, target, *mode = entry.split(":")
        mounts[target] = (source_name, mode[0] if mode else "rw")
    return mounts


def size_bytes(text: str) -> int:
    """Compose's byte sizes: 2g, 512m, 1024k, 100 (bytes)."""
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", str(text).lower()).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** {"": 0, "k": 1, "m": 2, "g": 3}[unit]


def workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("command", [])[:2] == ["fondation", "worker"]
    }


def test_compose_has_postgres_two_workers_and_the_web_app(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "web"} <= set(services) and len(workers(compose)) >= 2
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert volume_mounts(postgres)["/var/lib/postgresql/data"][0] in compose["volumes"]
    ids = [
        service["environment"].get("FONDATION_WORKER_ID") or service["environment"].get("WORKER_ID")
        for service in workers(compose).values()
    ]
    assert all(ids) and len(set(ids)) == len(ids), ids


def test_every_running_service_has_a_health_check_and_a_restart_policy(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "profiles" in service:  # one-off commands (`run --rm ops …`), never started by `up`
            assert service["restart"] == "no" and service["healthcheck"] == {"disable": True}, name
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name


def test_compose_workers_get_the_database_credentials_temp_and_memory(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    temp_volumes = []
    for name, service in workers(compose).items():
        environment = service["environment"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["env_file"] == ".env"
        # Compose interpolates ${…} first: the password (and its error message) are no part of the URL's shape.
        url = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", environment["FONDATION_DATABASE_URL"]))
        assert url.scheme == "postgresql" and url.hostname == "postgres", name
        assert (url.username, url.path) == (postgres["POSTGRES_USER"], "/" + postgres["POSTGRES_DB"])
        mounts = volume_mounts(service)
        credentials = environment["FONDATION_CLAUDE_CONFIG_DIR"]
        assert credentials == str(Settings.model_fields["claude_config_dir"].default)
        assert mounts[credentials][1] == "ro", f"{name} must mount the credentials read-only"
        temp_source, temp_mode = mounts[environment["FONDATION_TEMP_DIR"]]
        assert temp_mode == "rw" and temp_source in compose["volumes"]
        temp_volumes.append(temp_source)
        limit = service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory") or service["mem_limit"]
        assert size_bytes(limit) == 2 * GiB, name
        assert float(service["stop_grace_period"].removesuffix("s")) > SHUTDOWN_GRACE, name
        port = environment["FONDATION_HEALTH_PORT"]
        assert f"127.0.0.1:{port}/health" in " ".join(service["healthcheck"]["test"]), name
        assert environment["FONDATION_HEALTH_HOST"] == "0.0.0.0"  # the port mapping reaches it
    assert len(set(temp_volumes)) == len(temp_volumes), "workers must not share a temp volume"


def test_compose_web_app_and_declared_names(compose: dict[str, Any]) -> None:
    web = compose["services"]["web"]
    command = web["command"]
    assert command[:2] == ["fondation", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}/health" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in compose["services"].items():
        assert set(service.get("environment", {})) - SETTING_NAMES <= {
            "POSTGRES_USER",
            "POSTGRES_DB",
            "POSTGRES_PASSWORD",
        }
        for source_name, _ in volume_mounts(service).values():
            assert source_name in compose["volumes"], f"{name}: volume {source_name} is not declared"


# ---------------------------------------------------------------------------------------------- Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int  # -1 before the first FROM


def dockerfile() -> list[Instruction]:
    """Instructions with their continuation lines joined and comments dropped, each with its stage."""
    found: list[Instruction] = []
    pending, stage = "", -1
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        found.append(Instruction(keyword.upper(), " ".join(arguments.split()), stage))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return found


def stage_names(instructions: list[Instruction]) -> dict[str, int]:
    names = {}
    for instruction in instructions:
        if instruction.keyword == "FROM" and " AS " in instruction.arguments.upper():
            names[instruction.arguments.split()[-1]] = instruction.stage
    return names


def args_of(instructions: list[Instruction], stage: int) -> dict[str, str]:
    """ARG name → default ("" when none) of one stage (-1: the global ones, before the first FROM)."""
    found = {}
    for instruction in instructions:
        if instruction.keyword == "ARG" and instruction.stage == stage:
            name, _, default = instruction.arguments.partition("=")
            found[name] = default
    return found


def test_dockerfile_runtime_stage() -> None:
    instructions = dockerfile()
    global_args = args_of(instructions, -1)
    assert global_args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert global_args["INSTALL_CLAUDE_CLI"] == "false"
    final = max(i.stage for i in instructions)
    runtime = [i for i in instructions if i.stage == final]
    assert runtime[0].arguments == "${PYTHON_IMAGE}"
    keywords = [i.keyword for i in runtime]
    # A non-root user before the command, and never root again.
    users = [i.arguments for i in runtime if i.keyword == "USER"]
    assert users == ["fondation"] and keywords.index("USER") < keywords.index("CMD")
    assert any(i.keyword == "RUN" and "useradd" in i.arguments and " fondation" in i.arguments for i in runtime)
    installs = " ".join(i.arguments for i in runtime if i.keyword == "RUN" and "apt-get install" in i.arguments)
    assert {"git", "tini", "postgresql-client"} <= set(installs.split())
    entrypoint = json.loads(next(i.arguments for i in runtime if i.keyword == "ENTRYPOINT"))
    assert entrypoint[0].endswith("/tini") and entrypoint[1] == "--"
    assert json.loads(next(i.arguments for i in runtime if i.keyword == "CMD")) == ["fondation", "worker"]
    assert {"8000", "8080"} <= set(" ".join(i.arguments for i in runtime if i.keyword == "EXPOSE").split())
    assert "HEALTHCHECK" in keywords and "/health" in next(i.arguments for i in runtime if i.keyword == "HEALTHCHECK")
    environment = dict(pair.split("=", 1) for i in runtime if i.keyword == "ENV" for pair in shlex.split(i.arguments))
    assert {name for name in environment if name.startswith("FONDATION_")} <= SETTING_NAMES
    assert "/opt/claude/bin" in environment["PATH"] and "/opt/fondation/.venv/bin" in environment["PATH"]
    # The directories the volumes are mounted on exist in the image, owned by the user, so new volumes are.
    made = " ".join(i.arguments for i in runtime if i.keyword == "RUN" and "install -d" in i.arguments)
    assert environment["FONDATION_TEMP_DIR"] in made and environment["FONDATION_CLAUDE_CONFIG_DIR"] in made


def test_dockerfile_claude_cli_is_optional_and_pinned() -> None:
    instructions = dockerfile()
    names = stage_names(instructions)
    assert {"claude-true", "claude-false", "claude"} <= set(names)
    assert any(i.keyword == "FROM" and i.arguments == "claude-${INSTALL_CLAUDE_CLI} AS claude" for i in instructions)
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@anthropic-ai/claude-code"]
    assert args_of(instructions, names["claude-true"])["CLAUDE_CLI_VERSION"] == pinned
    installs = [i.arguments for i in instructions if i.stage == names["claude-true"] and i.keyword == "RUN"]
    assert any("@anthropic-ai/claude-code@${CLAUDE_CLI_VERSION}" in command for command in installs)
    final = max(i.stage for i in instructions)
    assert any(
        i.keyword == "COPY" and i.arguments.startswith("--from=claude ") for i in instructions if i.stage == final
    )


def test_dockerfile_installs_the_package_and_the_pinned_assets() -> None:
    instructions = dockerfile()
    names = stage_names(instructions)
    assets = [i for i in instructions if i.stage == names["assets"]]
    assert any(i.keyword == "COPY" and i.arguments == "package.json package-lock.json ./" for i in assets)
    assert any(i.keyword == "RUN" and i.arguments.startswith("npm ci") for i in assets)
    script = (ROOT / "scripts" / "fetch-assets.sh").read_text()
    listed = re.search(r"files=\((.*?)\)", script, re.DOTALL)
    assert listed is not None, "scripts/fetch-assets.sh no longer lists its files as files=(…)"
    vendored = re.findall(r'"(node_modules/[^"]+)"', listed.group(1))
    assert len(vendored) == 3
    copied = " ".join(
        i.arguments for i in instructions if i.keyword == "COPY" and i.arguments.startswith("--from=assets")
    )
    assert all(f"/src/{path}" in copied for path in vendored), (vendored, copied)
    assert "src/fondation/render/vendor/" in copied
    pip = [i.arguments for i in instructions if i.keyword == "RUN" and "pip install" in i.arguments]
    assert any("-c requirements/constraints.txt ." in command for command in pip)


def test_dockerfile_copies_only_what_the_context_lets_in() -> None:
    """Every file COPY takes from the build context exists, and Dockerfile.dockerignore re-includes it."""
    patterns = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the context should let in only what is named"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for instruction in dockerfile():
        if instruction.keyword != "COPY" or instruction.arguments.startswith("--from"):
            continue
        *sources, _ = instruction.arguments.split()
        for name in sources:
            path = name.rstrip("/")
            assert (ROOT / path).exists(), f"COPY {name}: no such file in the repository"
            assert path in allowed, f"COPY {name}: excluded by deploy/Dockerfile.dockerignore"


# ---------------------------------------------------------------------------------------------- health checks


class _Unhealthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def unhealthy_port() -> Iterator[int]:
    """A server answering 503 to everything, as /health does when the database is gone."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unhealthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def python_check(test: list[str]) -> str:
    """The code of a `["CMD", "python", "-c", CODE]` health check."""
    assert test[:3] == ["CMD", "python", "-c"], test
    return test[3]


def run_check(code: str, **env: str) -> int:
    return run([sys.executable, "-c", code], env={"PATH": os.environ["PATH"], **env}).returncode


@pytest.mark.backends("sqlite")
def test_the_worker_health_checks_pass_on_a_live_worker_and_fail_otherwise(
    start_worker: Callable[..., WorkerProcess], compose: dict[str, Any], unhealthy_port: int
) -> None:
    worker = start_worker("health-check")
    closed = free_port()
    healthcheck = next(i.arguments for i in dockerfile() if i.keyword == "HEALTHCHECK")
    image_code = python_check(["CMD", *json.loads(healthcheck.split(" CMD ", 1)[1])])
    assert run_check(image_code, FONDATION_HEALTH_PORT=str(worker.port)) == 0
    assert run_check(image_code, FONDATION_HEALTH_PORT=str(unhealthy_port)) != 0
    assert run_check(image_code, FONDATION_HEALTH_PORT=str(closed)) != 0
    compose_code = python_check(workers(compose)["worker-1"]["healthcheck"]["test"])
    assert ":8080/" in compose_code
    assert run_check(compose_code.replace(":8080/", f":{worker.port}/")) == 0
    assert run_check(compose_code.replace(":8080/", f":{unhealthy_port}/")) != 0


def test_the_web_health_check_passes_on_the_real_web_app(
    compose: dict[str, Any], tmp_path: Path, unhealthy_port: int
) -> None:
    """`fondation serve` with the compose file's own arguments (on loopback, a free port) answers the check."""
    web = compose["services"]["web"]
    command, port = list(web["command"]), free_port()
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    env = {key: value for key, value in os.environ.items() if not key.startswith("FONDATION_")}
    env.update(
        FONDATION_DATABASE_URL=f"sqlite:///{tmp_path / 'web.db'}",
        FONDATION_SECRET_KEY="a-test-secret-key-that-is-long-enough-0123456789",
        FONDATION_ENV_FILE=str(tmp_path / "absent.env"),
        HOME=str(tmp_path),
    )
    code = python_check(web["healthcheck"]["test"])
    with (tmp_path / "web.log").open("wb") as log:
        server = subprocess.Popen([str(FONDATION), *command[1:]], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(
                lambda: server.poll() is not None or run_check(code.replace(":8000/", f":{port}/")) == 0,
                timeout=60,
                interval=0.3,
                what="the web app's health check",
            )
            assert server.poll() is None, (tmp_path / "web.log").read_text()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    assert run_check(code.replace(":8000/", f":{unhealthy_port}/")) != 0


# ---------------------------------------------------------------------------------------------- .env.example

_ENTRY = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


@dataclass(frozen=True)
class Entry:
    name: str
    value: str
    commented: bool
    comment: str  # the line above


def env_example() -> list[Entry]:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    entries = []
    for index, line in enumerate(lines):
        match = _ENTRY.match(line)
        if match:
            entries.append(Entry(match.group(2), match.group(3), bool(match.group(1)), lines[index - 1]))
    return entries


def test_env_example_lists_exactly_every_setting_and_the_compose_variables() -> None:
    entries = env_example()
    names = [entry.name for entry in entries]
    assert len(names) == len(set(names)), "a variable is listed twice"
    compose_text = (DEPLOY / "docker-compose.prod.yml").read_text()
    compose_only = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", compose_text)) - SETTING_NAMES
    assert compose_only, "the compose file interpolates no variable of its own"
    missing = SETTING_NAMES - set(names)
    assert not missing, f"settings missing from deploy/.env.example: {sorted(missing)}"
    assert set(names) == SETTING_NAMES | compose_only, f"not settings: {sorted(set(names) - SETTING_NAMES)}"
    for entry in entries:
        assert entry.comment.startswith("# ") and not _ENTRY.match(entry.comment), f"{entry.name} has no comment"


def test_env_example_values_are_the_real_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded as a .env file (every line uncommented), the example gives exactly the default settings."""
    for field in Settings.model_fields.values():
        for alias in field.validation_alias.choices:  # type: ignore[union-attr]
            monkeypatch.delenv(str(alias), raising=False)
    by_name = {entry.name: entry for entry in env_example()}
    for field_name, field in Settings.model_fields.items():
        entry = by_name[env_name(field_name)]
        if field.default_factory is not None or field.default is None:
            assert entry.value == "", f"{entry.name}: its default is computed or unset, so its value stays empty"
        # Secrets are never written out, even in an example; everything is commented so `cp` changes nothing.
        assert entry.commented, f"{entry.name} is set in the example"
    uncommented = tmp_path / "example.env"
    uncommented.write_text(
        "".join(f"{e.name}={e.value}\n" for e in by_name.values() if e.value and e.name in SETTING_NAMES)
    )
    loaded = Settings(_env_file=str(uncommented))  # type: ignore[call-arg]
    assert loaded.model_dump() == Settings(_env_file=None).model_dump()  # type: ignore[call-arg]


# ---------------------------------------------------------------------------------------------- Prometheus


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    promtool = tool("promtool", "prometheus")
    checked = run([promtool, "check", "rules", str(RULES)])
    assert checked.returncode == 0 and "SUCCESS: 5 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = run([promtool, "test", "rules", "fondation-alerts.test.yml"], cwd=RULES.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_the_rules_cover_p1_and_p2_with_monitor_thresholds(rules: list[dict[str, Any]]) -> None:
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules}
    assert severities == {
        "FondationNoLiveWorker": "P1",
        "FondationQueueStuck": "P1",
        "FondationDatabaseUnreachable": "P1",
        "FondationErrorRateHigh": "P2",
        "FondationMemoryNearLimit": "P2",
    }
    for rule in rules:
        assert rule["for"] and rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    expr = {rule["alert"]: " ".join(rule["expr"].split()) for rule in rules}
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert f"> {defaults['monitor_stuck_after_seconds']:g}" in expr["FondationQueueStuck"]
    assert f"> {defaults['monitor_error_rate']:g}" in expr["FondationErrorRateHigh"]
    assert f">= {defaults['monitor_error_min_attempts']}" in expr["FondationErrorRateHigh"]
    assert f"> {defaults['monitor_memory_percent'] / 100:g}" in expr["FondationMemoryNearLimit"]


def served_names(exposition: str) -> set[str]:
    """Every series name a scrape of this exposition can hold, samples or not yet (a labelled counter)."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
    return names


@pytest.mark.backends("sqlite")
def test_every_metric_the_rules_use_is_served_by_a_real_worker(
    rules: list[dict[str, Any]], start_worker: Callable[..., WorkerProcess], queue: Any
) -> None:
    queue.enqueue(source(1), options={"do": "sleep", "seconds": 30})
    worker = start_worker("metrics")
    wait_until(lambda: worker.health()[1]["active_jobs"] == 1, what="the job to start")
    exposition = worker.metrics()
    used = {name for rule in rules for name in re.findall(r"\bfondation_[a-z_]+\b", rule["expr"])}
    assert used - served_names(exposition) == set()
    samples = {s.name: s.value for family in text_string_to_metric_families(exposition) for s in family.samples}
    # The memory gauges: the worker with its job's process, against the limit of the cgroup they share.
    process = psutil.Process(worker.popen.pid)
    children = process.children(recursive=True)
    assert children, "the job's process is not running"
    measured = sum(p.memory_info().rss for p in [process, *children])
    assert samples["fondation_memory_bytes"] == pytest.approx(measured, rel=0.25)
    assert samples["fondation_memory_bytes"] > process.memory_info().rss
    assert samples["fondation_memory_limit_bytes"] == memory_limit_bytes()
    assert samples["fondation_memory_limit_bytes"] <= psutil.virtual_memory().total


@pytest.mark.parametrize(
    ("proc_cgroup", "files", "expected"),
    [
        # A systemd unit with MemoryMax=2G on cgroup v2: the limit sits on the unit's cgroup, none above.
        (
            "0::/system.slice/fondation-worker.service\n",
            {"system.slice/fondation-worker.service/memory.max": "2147483648", "system.slice/memory.max": "max"},
            2 * GiB,
        ),
        # A container on cgroup v2 (private namespace: its own cgroup is the root), limited to 1 GiB.
        ("0::/\n", {"memory.max": "1073741824"}, GiB),
        # A container on cgroup v1: the memory hierarchy shows the container's cgroup at its root.
        ("5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n", {"memory/memory.limit_in_bytes": "536870912"}, GiB // 2),
        # No limit anywhere (v2 "max", v1's huge number): the machine's memory.
        (
            "4:memory:/user.slice\n0::/user.slice\n",
            {"memory.max": "max", "memory/memory.limit_in_bytes": str(2**63 - 4096)},
            None,
        ),
    ],
)
def test_memory_limit_is_the_tightest_cgroup_limit(
    tmp_path: Path, proc_cgroup: str, files: dict[str, str], expected: int | None
) -> None:
    for relative, content in files.items():
        (tmp_path / "cgroup" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "cgroup" / relative).write_text(content + "\n")
    (tmp_path / "proc-cgroup").write_text(proc_cgroup)
    limit = memory_limit_bytes(tmp_path / "cgroup", tmp_path / "proc-cgroup")
    assert limit == (expected if expected is not None else psutil.virtual_memory().total)


# ---------------------------------------------------------------------------------------------- credentials

_READ_ONLY_CALL = """
import json, sys
from pathlib import Path
from fake_llm_servers import FakeAnthropic, Reply
from fondation.providers.base import Request
from fondation.providers.claude_cli import ClaudeCliOptions, ClaudeCliProvider

config_dir, claude = Path(sys.argv[1]), sys.argv[2]
try:
    (config_dir / "probe").write_text("x")
    writable = True
except OSError:
    writable = False
with FakeAnthropic(api_key="ro-token-5b6c") as fake:
    fake.script(Reply.text("read-only is fine"))
    options = ClaudeCliOptions(
        command=claude, config_dir=config_dir, model="claude-sonnet-4-5", oauth_token="ro-token-5b6c",
        base_url=fake.url,
    )
    answer = ClaudeCliProvider(options).complete(
        Request(system="Write.", prompt="Say it.", step="chapter", timeout_seconds=60.0)
    )
print(json.dumps({"writable": writable, "text": answer.text}))
"""


def test_the_claude_cli_works_with_the_credentials_mounted_read_only() -> None:
    """As the compose file mounts them on the workers: the pinned CLI answers with a token and a folder it
    cannot write. Root ignores permissions, so as root the call runs as `nobody` (setpriv)."""
    claude = ROOT / "node_modules" / ".bin" / "claude"
    if not os.access(claude, os.X_OK):
        pytest.fail(f"{claude} is missing: run `make assets`, which installs the Claude Code CLI")
    scratch = Path(tempfile.mkdtemp(prefix="fondation-ro-"))  # not under pytest's 0700 tree: nobody must enter
    try:
        scratch.chmod(0o777)
        config_dir = scratch / "claude-creds"
        config_dir.mkdir(mode=0o555)
        config_dir.chmod(0o555)
        prefix = []
        if os.geteuid() == 0:
            prefix = [tool("setpriv", "util-linux"), "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "PYTHONPATH": str(TESTS_DIR),
        }
        done = run([*prefix, sys.executable, "-c", _READ_ONLY_CALL, str(config_dir), str(claude)], env=env, cwd=scratch)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.splitlines()[-1]) == {"writable": False, "text": "read-only is fine"}
        assert list(config_dir.iterdir()) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- logrotate


def test_logrotate_accepts_the_snippet() -> None:
    logrotate = tool("logrotate", "logrotate")
    with tempfile.TemporaryDirectory() as state:
        done = run([logrotate, "--debug", "--state", f"{state}/status", str(DEPLOY / "logrotate" / "fondation")])
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "error" not in output.lower(), output
    assert "after 1 days (14 rotations)" in output and "/var/log/fondation/*.log" in output


def test_logrotate_rotates_a_log_held_open_by_its_writer(tmp_path: Path) -> None:
    """The snippet, pointed at a test directory: the writer keeps its file descriptor and goes on writing at
    the start of the emptied file (copytruncate), yesterday's lines are kept, and older ones compressed."""
    logrotate = tool("logrotate", "logrotate")
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    config = tmp_path / "fondation.conf"
    config.write_text((DEPLOY / "logrotate" / "fondation").read_text().replace("/var/log/fondation/", f"{logs}/"))
    rotate = [logrotate, "--force", "--state", str(tmp_path / "status"), str(config)]
    with (logs / "worker.log").open("a") as writer:  # append mode, as systemd's append: and a shell's >>
        writer.write("day one\n")
        writer.flush()
        assert run(rotate).returncode == 0
        assert (logs / "worker.log.1").read_text() == "day one\n"
        assert (logs / "worker.log").read_text() == ""
        writer.write("day two\n")
        writer.flush()
        assert (logs / "worker.log").read_text() == "day two\n"
        done = run(rotate)
        assert done.returncode == 0, done.stderr
    assert (logs / "worker.log.1").read_text() == "day two\n"
    assert (logs / "worker.log.2.gz").is_file() and not (logs / "worker.log.2").exists()
