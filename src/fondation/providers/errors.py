"""How a failed call is classified, shared by every provider: by HTTP status, by SDK exception, by wait hint.

One table decides for all protocols, so a 429 means the same thing whether it came from the Anthropic SDK,
the OpenAI SDK or the Claude CLI's report of the API's answer. Every message is masked before it is built
into an error: by pattern (`mask_secrets`) and by value (the provider's own credentials).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from fondation.domain.jobs import ErrorKind
from fondation.domain.secrets import MASK, mask_secrets
from fondation.providers.base import ProviderError

#: Statuses a later attempt may get past: a timeout, a conflict, rate limits, server errors and overload (529).
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
#: Statuses no retry can fix but an operator can: a bad or unpaid credential, a refused permission.
_AUTH_STATUSES = frozenset({401, 402, 403})


def kind_for_status(status: int) -> ErrorKind:
    """The kind of an HTTP error status: auth for 401/402/403, transient for 408/409/429/5xx, else permanent."""
    if status in _AUTH_STATUSES:
        return ErrorKind.AUTH
    if status in _TRANSIENT_STATUSES or status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's wait hint: `retry-after-ms`, else `retry-after` in seconds or as an HTTP date."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        with contextlib.suppress(KeyError, ValueError):
            return max(0.0, float(lowered[name]) * scale)
    try:
        when = parsedate_to_datetime(lowered["retry-after"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def masked(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every credential-shaped substring and every given secret value replaced by a mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return mask_secrets(text)


@dataclass(frozen=True, slots=True)
class SdkErrors:
    """One SDK's exception classes, so `error_from_sdk` reads both SDKs' errors the same way."""

    status: type[Exception]
    timeout: type[Exception]
    connection: type[Exception]


def error_from_sdk(
    exc: Exception, classes: SdkErrors, *, what: str, timeout_seconds: float, secrets: Iterable[str | None]
) -> ProviderError:
    """Classify an SDK exception: by status for HTTP errors, transient for timeouts and lost connections."""
    secrets = list(secrets)
    if isinstance(exc, classes.timeout):
        return ProviderError(ErrorKind.TRANSIENT, f"{what}: no answer within {timeout_seconds:g} s")
    if isinstance(exc, classes.connection):
        return ProviderError(ErrorKind.TRANSIENT, masked(f"{what}: connection failed: {exc}", secrets))
    if isinstance(exc, classes.status):
        status: int = exc.status_code  # type: ignore[attr-defined]
        headers: Mapping[str, str] = exc.response.headers  # type: ignore[attr-defined]
        message = masked(f"{what}: HTTP {status}: {exc}", secrets)
        return ProviderError(kind_for_status(status), message, retry_after=retry_after_seconds(headers))
    return ProviderError(ErrorKind.PERMANENT, masked(f"{what}: {type(exc).__name__}: {exc}", secrets))
