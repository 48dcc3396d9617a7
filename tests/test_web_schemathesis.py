"""Property-based tests of the JSON API against its own OpenAPI schema, with schemathesis.

Each operation gets schema-valid requests (positive) and, where it takes parameters or a body,
schema-violating ones (negative), sent as the admin (who may call everything) to an app holding a
stored course, waiting and failed jobs and a worker. Every answer must be a documented status code with
a body that conforms to the schema, and never a 5xx.

The schema is built per test rather than with `schemathesis.pytest.from_fixture`: that loader needs
pytest internals (`Function._nodeid`) that pytest 9 no longer has. SQLite only: the API code is the
same on both backends (they are covered by test_web_api), and PostgreSQL would double the time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.failures import FailureGroup

from fondation.domain.jobs import ErrorKind
from fondation.queue import WorkerRegistry
from web_harness import WebApp

pytest_plugins = ["web_harness"]

#: Examples per operation and mode: enough to reach the ids that exist (1, 2...) and the boundaries.
MAX_EXAMPLES = 15
#: Never ends while its job runs: fuzzing it would wait forever. test_web_api covers it.
NOT_FUZZED = {"GET /api/v1/jobs/{job_id}/events/stream"}


def _check(name: str) -> CheckFunction:
    """A built-in check by name (schemathesis.checks resolves them lazily)."""
    check: CheckFunction = getattr(schemathesis.checks, name)
    return check


#: Checks that cannot apply to an operation, and why.
EXCLUDED_CHECKS: dict[str, list[str]] = {
    # The schema says `source` is a string; only the app can tell a repository from any string, so a
    # schema-valid body is rightly refused with 422 naming the field.
    "POST /api/v1/jobs": ["positive_data_acceptance"],
}


def _seed(web: WebApp) -> None:
    """Something behind every route: a course, a waiting job, a failed job, a worker."""
    web.store_course(web.alice)
    web.create_job(web.bob, "example/waiting")
    web.create_job(web.alice, "example/failing")
    (lease,) = web.queue.claim("w-fuzz", lease_seconds=60)
    web.queue.fail(lease, ErrorKind.TRANSIENT, "network down")
    WorkerRegistry(web.database).register("w-fuzz", concurrency=1, stale_after_seconds=60)


def _takes_input(operation: Any) -> bool:
    sets = (operation.path_parameters, operation.query, operation.headers, operation.cookies, operation.body)
    return any(len(values) for values in sets)


def _runner(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> Callable[[], None]:
    excluded = [_check(name) for name in EXCLUDED_CHECKS.get(operation.label, [])]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,  # no .hypothesis directory in the work tree
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    return run


@pytest.mark.backends("sqlite")
def test_the_api_conforms_to_its_schema(web: WebApp) -> None:
    _seed(web)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", web.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert labels.issuperset(NOT_FUZZED) and labels.issuperset(EXCLUDED_CHECKS), "stale exclusions"
    assert len(labels) >= 21, sorted(labels)
    failures: list[str] = []
    runs = 0
    for operation in operations:
        if operation.label in NOT_FUZZED:
            continue
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _takes_input(operation) else [])
        for mode in modes:
            runs += 1
            try:
                _runner(operation, mode, web.root.headers)()
            except (Exception, FailureGroup) as error:  # every operation is tried; the report names each failure
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert runs > len(labels)
    assert not failures, "\n\n".join(failures)


@pytest.mark.backends("sqlite")
def test_every_api_operation_documents_its_refusals(web: WebApp) -> None:
    """A client reading the schema learns that every /api/v1 call may be refused for want of credentials
    (401), and that calls with parameters or a body may be refused as invalid (422)."""
    document = web.api().get("/api/v1/openapi.json").json()
    checked = 0
    for path, methods in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in methods.items():
            responses = operation["responses"]
            assert "401" in responses, (method, path)
            assert "400" in responses and "403" in responses, (method, path)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in responses, (method, path)
            checked += 1
    assert checked == 21
