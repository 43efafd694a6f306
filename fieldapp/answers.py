"""Reading answers from a submitted question form: the capture screen and the kiosk share it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from werkzeug.datastructures import MultiDict

from . import textnorm
from .services import workspace
from .services.sync import schema

# A rank as typed: a few digits (already made ASCII), nothing else.
_RANK = re.compile(r"[0-9]{1,3}", re.ASCII)


def read_rank(text: str) -> int | None:
    """A rank typed in any digits (٢, ۲ and 2 are all 2), or None when it is not one.

    Invisible marks that Arabic and Kurdish keyboards may add (RLM, ZWNJ) are ignored; zero,
    signs, fractions and look-alikes such as ² are not ranks.
    """
    raw = textnorm.ascii_digits(textnorm.storage_form(text))
    if not _RANK.fullmatch(raw):
        return None
    return int(raw) or None


def read_answer(form: MultiDict[str, str], question: workspace.Item) -> Any:
    """One question's answer from the form, or None when it was left empty.

    Digits of any script are accepted (a rating of ٤ is 4, a rank of ۲ is 2).
    """
    key, kind = f"q_{question.id}", question.body["type"]
    options = [o["id"] for o in question.body.get("options", [])]
    if kind == "free_text":
        return textnorm.storage_form(form.get(key, ""))[: schema.LONG] or None
    if kind == "rating":
        raw = textnorm.ascii_digits(form.get(key, ""))
        return int(raw) if raw in ("1", "2", "3", "4", "5") else None
    if kind == "yes_no":
        return {"yes": True, "no": False}.get(form.get(key, ""))
    if kind == "single_choice":
        raw = form.get(key, "")
        return raw if raw in options else None
    if kind == "multiple_choice":
        return [o for o in options if o in form.getlist(key)] or None
    if kind == "ranking":
        # Stored as the option ids in rank order, first choice first; ranks left empty are
        # left out (a partial ranking), equal ranks keep the sheet's order.
        ranks = {}
        for option in options:
            rank = read_rank(form.get(f"{key}_{option}", ""))
            if rank is not None:
                ranks[option] = rank
        return [o for o, _rank in sorted(ranks.items(), key=lambda kv: kv[1])] or None
    return None


def read_answers(
    form: MultiDict[str, str], questions: Iterable[workspace.Item]
) -> tuple[dict[str, Any], list[str]]:
    """The answers given, and the required questions left unanswered."""
    answers: dict[str, Any] = {}
    missing = []
    for question in questions:
        value = read_answer(form, question)
        if value is None:
            if question.body.get("required"):
                missing.append(question.id)
        else:
            answers[question.id] = value
    return answers, missing
