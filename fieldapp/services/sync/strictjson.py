"""JSON as fieldapp accepts it from outside: no NaN or Infinity, no duplicate keys, and no
lone surrogates (``"\\ud800"`` parses to a Python string that cannot be encoded as UTF-8, so it
would fail later, while hashing or printing, instead of being refused here)."""

from __future__ import annotations

import json
import re
from typing import Any

# A \uD800-\uDFFF escape: half of a surrogate pair, or a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in JSON object")
    return result


DECODER = json.JSONDecoder(
    object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant
)


def refuse_lone_surrogates(text: str, value: Any) -> None:
    """Raise ValueError if ``value`` (parsed from ``text``) holds a lone surrogate.

    Only text with a surrogate escape is re-encoded, so ordinary lines cost one regex scan.
    """
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a lone surrogate is not text") from None


def loads(data: bytes | str) -> Any:
    """Parse strictly; raise ValueError (never RecursionError or UnicodeDecodeError)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(str(exc)[:200]) from None
    refuse_lone_surrogates(text, value)
    return value
