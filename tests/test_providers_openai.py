"""The OpenAI-compatible provider against a local chat completions server: answers, fallbacks, errors.

The `openai` SDK talks to `FakeOpenAI` over real HTTP on 127.0.0.1, as it would to llama.cpp or vLLM.
"""

from __future__ import annotations

import time

import pytest

from fake_llm_servers import FakeOpenAI, Reply
from fondation.domain.jobs import ErrorKind
from fondation.providers.base import DEFAULT_PRICES, Prices, ProviderError, Request
from fondation.providers.openai_api import OFFICIAL_BASE_URL, OpenAIProvider

pytest_plugins = ["fake_llm_servers"]

KEY = "fondation-openai-key-5e6f7a8b"
SCHEMA = {"type": "object", "properties": {"chapters": {"type": "array", "items": {"type": "string"}}}}


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.api_key, fake_openai.model = KEY, "qwen2.5-coder"
    return fake_openai


def provider_for(fake: FakeOpenAI, *, model: str = "gpt-4o-mini", key: str = KEY) -> OpenAIProvider:
    return OpenAIProvider(base_url=fake.url, api_key=key, model=model, prices=Prices(DEFAULT_PRICES))


def request(**overrides: object) -> Request:
    fields: dict[str, object] = {"system": "You write courses.", "prompt": "Plan the course.", "step": "outline"}
    return Request(**{**fields, **overrides})  # type: ignore[arg-type]


def test_text_answer_with_usage_and_cost(fake: FakeOpenAI) -> None:
    fake.script(Reply.text("Three chapters.", input_tokens=1000, output_tokens=200))
    completion = provider_for(fake).complete(request(max_tokens=1500))
    assert completion.text == "Three chapters."
    assert completion.model == "gpt-4o-mini"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (1000, 200)
    assert completion.usage.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1_000_000)
    [sent] = fake.requests
    assert sent.body["messages"] == [
        {"role": "system", "content": "You write courses."},
        {"role": "user", "content": "Plan the course."},
    ]
    assert sent.body["max_tokens"] == 1500
    assert "response_format" not in sent.body
    assert sent.step == "outline"


def test_missing_usage_is_estimated_and_unknown_models_cost_nothing(fake: FakeOpenAI) -> None:
    fake.script(Reply.text("x" * 40, with_usage=False))
    completion = provider_for(fake, model="qwen2.5-coder").complete(request(system="s" * 20, prompt="p" * 80))
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (25, 10)
    assert completion.usage.cost_usd == 0.0


def test_json_schema_goes_to_response_format_and_the_prompt(fake: FakeOpenAI) -> None:
    fake.script(Reply.text('{"chapters": ["a"]}'))
    completion = provider_for(fake).complete(request(json_schema=SCHEMA, step="outline plan"))
    assert completion.text == '{"chapters": ["a"]}'
    [sent] = fake.requests
    assert sent.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "outline_plan", "schema": SCHEMA},
    }
    assert "JSON Schema" in sent.body["messages"][1]["content"]


def test_a_server_without_response_format_is_asked_again_without_it_once_and_for_all() -> None:
    with FakeOpenAI(reject_response_format=True) as fake:
        fake.script(Reply.text('{"chapters": ["a"]}'), Reply.text('{"chapters": ["b"]}'))
        provider = OpenAIProvider(base_url=fake.url, model="local", prices=Prices())
        assert provider.complete(request(json_schema=SCHEMA)).text == '{"chapters": ["a"]}'
        assert provider.complete(request(json_schema=SCHEMA)).text == '{"chapters": ["b"]}'
        sent = fake.bodies("/v1/chat/completions")
    assert ["response_format" in body for body in sent] == [True, False, False]
    assert all("JSON Schema" in body["messages"][1]["content"] for body in sent)


def test_a_bad_request_that_is_not_about_the_format_is_permanent_and_not_repeated(fake: FakeOpenAI) -> None:
    fake.script(Reply.error(400, "This model's maximum context length is 8192 tokens"))
    with pytest.raises(ProviderError) as raised:
        provider_for(fake).complete(request(json_schema=SCHEMA))
    assert raised.value.kind is ErrorKind.PERMANENT
    assert fake.calls("/v1/chat/completions") == 1


@pytest.mark.parametrize(
    ("reply", "kind", "retry_after"),
    [
        (Reply.error(429, "Rate limit reached", headers={"retry-after": "12"}), ErrorKind.TRANSIENT, 12.0),
        (Reply.error(503, "loading model"), ErrorKind.TRANSIENT, None),
        (Reply.error(529, "overloaded"), ErrorKind.TRANSIENT, None),
        (Reply.error(403, "country not supported"), ErrorKind.AUTH, None),
        (Reply.error(404, "model not found"), ErrorKind.PERMANENT, None),
    ],
)
def test_http_errors_are_classified(fake: FakeOpenAI, reply: Reply, kind: ErrorKind, retry_after: float | None) -> None:
    fake.script(reply)
    with pytest.raises(ProviderError) as raised:
        provider_for(fake).complete(request())
    assert (raised.value.kind, raised.value.retry_after) == (kind, retry_after)
    assert fake.calls("/v1/chat/completions") == 1


def test_a_rejected_key_is_auth_and_never_shown(fake: FakeOpenAI) -> None:
    fake.script(Reply.error(401, f"Incorrect API key provided: {KEY}"))
    with pytest.raises(ProviderError) as raised:
        provider_for(fake).complete(request())
    assert raised.value.kind is ErrorKind.AUTH
    assert KEY not in str(raised.value)
    assert "provided: ****" in raised.value.message


def test_no_answer_within_the_timeout_is_transient(fake: FakeOpenAI) -> None:
    fake.script(Reply.hang(10))
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        provider_for(fake).complete(request(timeout_seconds=0.5))
    assert time.monotonic() - started < 3
    assert raised.value.kind is ErrorKind.TRANSIENT


def test_readiness_lists_the_servers_models(fake: FakeOpenAI) -> None:
    ready = provider_for(fake).check_ready()
    assert ready.ready
    assert "qwen2.5-coder" in ready.detail
    assert fake.calls("/v1/models") == 1


def test_readiness_reports_a_server_that_refuses_the_key_or_is_down(fake: FakeOpenAI) -> None:
    refused = provider_for(fake, key="fondation-other-key-1234").check_ready()
    assert not refused.ready and "401" in refused.detail and "fondation-other-key-1234" not in refused.detail
    with FakeOpenAI() as gone:
        url = gone.url
    down = OpenAIProvider(base_url=url, prices=Prices()).check_ready()
    assert not down.ready and "connection failed" in down.detail


def test_the_official_api_needs_a_key_and_no_call_to_be_ready() -> None:
    assert not OpenAIProvider(prices=Prices()).check_ready().ready
    with pytest.raises(ProviderError) as raised:
        OpenAIProvider(prices=Prices()).complete(request())
    assert raised.value.kind is ErrorKind.AUTH
    keyed = OpenAIProvider(api_key=KEY, prices=Prices())
    assert keyed.base_url == OFFICIAL_BASE_URL and keyed.check_ready().ready


def test_a_server_needing_no_key_gets_a_placeholder() -> None:
    with FakeOpenAI() as fake:
        completion = OpenAIProvider(base_url=fake.url, model="local", prices=Prices()).complete(request())
        assert completion.text == "Done." and completion.usage.cost_usd == 0.0
