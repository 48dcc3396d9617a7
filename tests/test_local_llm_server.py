"""Smoke tests of the real local LLM (`make test-llm`): SmolLM2-135M behind llama-cpp-python's OpenAI-compatible
server, as tests/local_llm.py starts it.

They also pin down, as facts for the code that talks to it, what the server does with `response_format`:
`{"type": "json_object"}` constrains the answer to JSON, `{"type": "json_object", "schema": {...}}` to that
JSON schema (a llama-cpp-python extension), and OpenAI's `{"type": "json_schema", ...}` is refused with an
HTTP 500 carrying a validation error (not a 4xx), so a client with retries on 5xx retries it in vain.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from local_llm import MODEL_ALIAS, model_path, server_log

pytestmark = pytest.mark.local_llm

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
JSON_QUESTION = [
    {"role": "system", "content": "Answer with a JSON object."},
    {"role": "user", "content": "Give the name of a country and of its capital as JSON."},
]
COUNTRY_SCHEMA = {
    "type": "object",
    "properties": {"country": {"type": "string"}, "capital": {"type": "string"}},
    "required": ["country", "capital"],
}


def post_chat(base_url: str, **body: Any) -> tuple[int, Any]:
    """POST /chat/completions with plain urllib: the HTTP status and the decoded JSON body (text if not JSON)."""
    request = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=json.dumps({"model": MODEL_ALIAS, "temperature": 0, **body}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", errors="replace")
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def answer_text(base_url: str, status: int, body: Any) -> str:
    """The first choice's text of a successful answer; otherwise fail with the answer and the server's log."""
    assert status == 200, f"HTTP {status}: {body}\n--- server log ---\n{server_log(base_url)}"
    return str(body["choices"][0]["message"]["content"])


def test_model_file_is_a_gguf() -> None:
    path = model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    with path.open("rb") as file:
        assert file.read(4) == b"GGUF"


def test_models_endpoint_lists_the_model(local_llm_url: str) -> None:
    with urllib.request.urlopen(f"{local_llm_url}/models", timeout=10) as response:
        models = json.load(response)
    assert [model["id"] for model in models["data"]] == [MODEL_ALIAS]


def test_chat_completion_answers_with_text_and_usage(local_llm_url: str) -> None:
    """Through the OpenAI SDK when it is installed, as the application talks; plain HTTP otherwise."""
    try:
        import openai
    except ImportError:
        status, body = post_chat(local_llm_url, messages=QUESTION, max_tokens=64)
        text = answer_text(local_llm_url, status, body)
        usage = body["usage"]
        prompt_tokens, completion_tokens, total_tokens = (
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        )
    else:
        client = openai.OpenAI(base_url=local_llm_url, api_key="sk-local", max_retries=0, timeout=120)
        completion = client.chat.completions.create(model=MODEL_ALIAS, messages=QUESTION, max_tokens=64, temperature=0)
        text = completion.choices[0].message.content or ""
        assert completion.usage is not None
        prompt_tokens = completion.usage.prompt_tokens
        completion_tokens = completion.usage.completion_tokens
        total_tokens = completion.usage.total_tokens
    assert text.strip(), f"empty answer\n--- server log ---\n{server_log(local_llm_url)}"
    assert prompt_tokens > 0
    assert 0 < completion_tokens <= 64
    assert total_tokens == prompt_tokens + completion_tokens


def test_json_object_response_format_constrains_the_answer_to_json(local_llm_url: str) -> None:
    status, body = post_chat(
        local_llm_url, messages=JSON_QUESTION, max_tokens=128, response_format={"type": "json_object"}
    )
    text = answer_text(local_llm_url, status, body)
    assert body["choices"][0]["finish_reason"] == "stop", text
    assert isinstance(json.loads(text), dict)


def test_json_object_with_a_schema_constrains_the_answer_to_the_schema(local_llm_url: str) -> None:
    status, body = post_chat(
        local_llm_url,
        messages=JSON_QUESTION,
        max_tokens=128,
        response_format={"type": "json_object", "schema": COUNTRY_SCHEMA},
    )
    text = answer_text(local_llm_url, status, body)
    answer = json.loads(text)
    assert set(answer) >= {"country", "capital"}, text
    assert all(isinstance(answer[key], str) for key in ("country", "capital")), text


def test_openai_json_schema_response_format_is_refused(local_llm_url: str) -> None:
    """OpenAI's structured-output form is not understood: the server's request model only knows
    `text` and `json_object`, and it reports the validation error as an HTTP 500."""
    status, body = post_chat(
        local_llm_url,
        messages=JSON_QUESTION,
        max_tokens=32,
        response_format={"type": "json_schema", "json_schema": {"name": "country", "schema": COUNTRY_SCHEMA}},
    )
    assert status == 500, f"HTTP {status}: {body}"
    assert "json_object" in json.dumps(body), body
