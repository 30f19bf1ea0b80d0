"""Secrets out of every error a judge stores or prints (issue 14).

A server may echo the request's `Authorization` header, or the key itself, in an error
body; that text reaches `Judgment.error`, judgments.jsonl and the terminal. `redact`
replaces the given secrets (the key the judge sent) and anything shaped like a bearer
token or an OpenAI-style `sk-...` key with `[redacted]`.

    redact("401: bad key Bearer sk-abc123def456", secrets=["sk-abc123def456"]) == "401: bad key Bearer [redacted]"
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[redacted]"
_PATTERNS = (
    # "Authorization: Bearer X", "authorization=Basic X", with or without quotes.
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;}]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{6,}"),
)
_MIN_SECRET = 4  # shorter "secrets" (a placeholder, an empty variable) would mask ordinary words


def redact(text: str | None, secrets: Iterable[str | None] = ()) -> str | None:
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
