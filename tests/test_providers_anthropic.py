"""The Anthropic API provider against a local server speaking the Messages API: answers, usage, errors.

The `anthropic` SDK talks to `FakeAnthropic` over real HTTP on 127.0.0.1, so these tests cover the SDK's
own parsing and error classes as well as the provider's mapping of them.
"""

from __future__ import annotations

import time

import anthropic
import pytest

from fake_llm_servers import FakeAnthropic, Reply
from fondation.domain.jobs import ErrorKind
from fondation.providers.anthropic_api import AnthropicProvider
from fondation.providers.base import DEFAULT_PRICES, Prices, ProviderError, Request

pytest_plugins = ["fake_llm_servers"]

#: Shaped like no known token on purpose: only masking by value can hide it.
KEY = "fondation-test-key-7f3a9c21"
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}


@pytest.fixture
def fake(fake_anthropic: FakeAnthropic) -> FakeAnthropic:
    fake_anthropic.api_key = KEY
    return fake_anthropic


def provider_for(fake: FakeAnthropic, *, key: str = KEY, model: str = "claude-sonnet-4-5") -> AnthropicProvider:
    return AnthropicProvider(api_key=key, model=model, base_url=fake.url, prices=Prices(DEFAULT_PRICES))


def request(**overrides: object) -> Request:
    fields: dict[str, object] = {"system": "You write courses.", "prompt": "Explain the parser.", "step": "chapter"}
    return Request(**{**fields, **overrides})  # type: ignore[arg-type]


def test_text_answer_with_usage_and_cost(fake: FakeAnthropic) -> None:
    fake.script(Reply.text("The parser reads tokens.", input_tokens=1200, output_tokens=300))
    completion = provider_for(fake).complete(request(max_tokens=2000))
    assert completion.text == "The parser reads tokens."
    assert completion.model == "claude-sonnet-4-5"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (1200, 300)
    assert completion.usage.cost_usd == pytest.approx((1200 * 3.0 + 300 * 15.0) / 1_000_000)
    [sent] = fake.requests
    assert sent.body["system"] == "You write courses."
    assert sent.body["messages"] == [{"role": "user", "content": "Explain the parser."}]
    assert sent.body["max_tokens"] == 2000
    assert "output_config" not in sent.body
    assert sent.step == "chapter"
    assert sent.headers["authorization"] == "****"


def test_json_schema_uses_structured_output_and_says_so_in_the_prompt(fake: FakeAnthropic) -> None:
    fake.script(Reply.text('{"title": "Parsing"}'))
    completion = provider_for(fake).complete(request(json_schema=SCHEMA))
    assert completion.text == '{"title": "Parsing"}'
    [sent] = fake.requests
    assert sent.body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert '"required": [' in sent.body["messages"][0]["content"]


def test_a_server_refusing_structured_output_is_asked_again_without_it_once_and_for_all(fake: FakeAnthropic) -> None:
    fake.script(
        Reply.error(400, "output_config.format: Extra inputs are not permitted"),
        Reply.text('{"title": "A"}'),
        Reply.text('{"title": "B"}'),
    )
    provider = provider_for(fake)
    assert provider.complete(request(json_schema=SCHEMA)).text == '{"title": "A"}'
    assert provider.complete(request(json_schema=SCHEMA)).text == '{"title": "B"}'
    assert ["output_config" in body for body in fake.bodies("/v1/messages")] == [True, False, False]


@pytest.mark.parametrize(
    ("reply", "kind", "retry_after"),
    [
        (Reply.error(403, "your organization is disabled"), ErrorKind.AUTH, None),
        (Reply.error(429, "rate limited", headers={"retry-after": "7"}), ErrorKind.TRANSIENT, 7.0),
        (Reply.error(529, "Overloaded"), ErrorKind.TRANSIENT, None),
        (Reply.error(503, "busy", headers={"retry-after-ms": "1500"}), ErrorKind.TRANSIENT, 1.5),
        (Reply.error(500, "internal error"), ErrorKind.TRANSIENT, None),
        (Reply.error(400, "prompt is too long: 300000 tokens > 200000 maximum"), ErrorKind.PERMANENT, None),
        (Reply.error(404, "model: claude-nope"), ErrorKind.PERMANENT, None),
    ],
)
def test_http_errors_are_classified_and_not_retried_by_the_sdk(
    fake: FakeAnthropic, reply: Reply, kind: ErrorKind, retry_after: float | None
) -> None:
    fake.script(reply)
    with pytest.raises(ProviderError) as raised:
        provider_for(fake).complete(request())
    assert raised.value.kind is kind
    assert raised.value.retry_after == retry_after
    assert reply.message in raised.value.message
    assert fake.calls("/v1/messages") == 1


def test_a_rejected_key_is_auth_and_never_shown(fake: FakeAnthropic) -> None:
    fake.script(Reply.error(401, f"invalid x-api-key {KEY}"))
    with pytest.raises(ProviderError) as raised:
        provider_for(fake).complete(request())
    assert raised.value.kind is ErrorKind.AUTH
    assert KEY not in raised.value.message and KEY not in str(raised.value)
    assert "invalid x-api-key ****" in raised.value.message
    assert fake.calls("/v1/messages") == 1


def test_a_missing_key_is_auth_without_a_call(fake: FakeAnthropic) -> None:
    provider = provider_for(fake, key="")
    assert not provider.check_ready().ready
    with pytest.raises(ProviderError) as raised:
        provider.complete(request())
    assert raised.value.kind is ErrorKind.AUTH
    assert "FONDATION_ANTHROPIC_API_KEY" in raised.value.message
    assert fake.requests == []


def test_readiness_with_a_key(fake: FakeAnthropic) -> None:
    ready = provider_for(fake).check_ready()
    assert ready.ready and "claude-sonnet-4-5" in ready.detail


def test_no_answer_within_the_timeout_is_transient(fake: FakeAnthropic) -> None:
    fake.script(Reply.hang(10))
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        provider_for(fake).complete(request(timeout_seconds=0.5))
    assert time.monotonic() - started < 3
    assert raised.value.kind is ErrorKind.TRANSIENT
    assert "0.5 s" in raised.value.message


def test_a_refused_connection_is_transient() -> None:
    with FakeAnthropic() as gone:
        url = gone.url
    provider = AnthropicProvider(api_key=KEY, base_url=url, prices=Prices())
    with pytest.raises(ProviderError) as raised:
        provider.complete(request(timeout_seconds=5))
    assert raised.value.kind is ErrorKind.TRANSIENT


def test_the_fake_streams_the_real_event_format(fake: FakeAnthropic) -> None:
    """The SDK's own stream parser rebuilds text and tool calls from the fake's events (the CLI streams)."""
    fake.script(Reply.tool_use("Read", {"file_path": "/repo/a.py", "limit": 20}, preamble="Let me look."))
    client = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0)
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Let me look."
    assert message.stop_reason == "tool_use"
    tool = message.content[1]
    assert tool.type == "tool_use" and tool.name == "Read" and tool.input == {"file_path": "/repo/a.py", "limit": 20}
    assert (message.usage.input_tokens, message.usage.output_tokens) == (25, 10)
    assert fake.bodies("/v1/messages")[0]["stream"] is True
