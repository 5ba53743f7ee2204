"""Keeping secrets out of text: every line that describes an error passes through `redact`.

A secret reaches an error message in more forms than its own: inside a `repr` (backslashes
and quotes escaped, maybe twice when a repr is itself repr'd), percent-encoded in a URL,
JSON-escaped in a body. Replacing only the raw form let the cloud token reach the journal,
`gateway status`, doctor's output and the store (issue 12.4). Secrets are checked at load to
be one line of printable ASCII (config.py), so these forms cover every way Python and the
HTTP stack print them.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

MASK = "***"
ESCAPE_ROUNDS = 2  # repr of an exception whose message already holds a repr


def _escapes(text: str) -> set[str]:
    single = text.encode("unicode_escape").decode("ascii")
    return {
        single,
        single.replace("'", "\\'"),
        single.replace('"', '\\"'),
        json.dumps(text)[1:-1],
        quote(text, safe=""),
        quote(text),
        quote_plus(text),
    }


def secret_forms(secret: str) -> list[str]:
    """The raw secret and its escaped and encoded forms, longest first (so a longer form is
    replaced before a shorter one inside it)."""
    if not secret:
        return []
    forms = {secret}
    for _ in range(ESCAPE_ROUNDS):
        forms |= {escaped for form in forms for escaped in _escapes(form)}
    return sorted(forms, key=len, reverse=True)


def redact(text: str, *secrets: str) -> str:
    """`text` with every form of each non-empty secret replaced by ***."""
    for secret in secrets:
        for form in secret_forms(secret):
            text = text.replace(form, MASK)
    return text


def redact_then_cut(text: str, limit: int, *secrets: str) -> str:
    """Redact first, then cut: cutting first can leave the start of a secret standing."""
    return redact(text, *secrets)[:limit]
