"""JSON as fieldapp accepts it from outside: no NaN or Infinity, no duplicate keys."""

from __future__ import annotations

import json
from typing import Any


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


def loads(data: bytes | str) -> Any:
    """Parse strictly; raise ValueError (never RecursionError or UnicodeDecodeError)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(str(exc)[:200]) from None
