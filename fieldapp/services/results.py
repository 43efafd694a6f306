"""What the answers to a question add up to, computed from the answers alone.

Pure functions over stored answers (no database, no request), so the overview, the printed
summary and any later analysis or export compute the same figures.

Priorities of a ranking question are counted in Borda points: with ``m`` options, a person's
first choice earns ``m`` points, their second ``m - 1``, and so on down to 1 for the last
place; an option the person left unranked earns nothing (a partial ranking counts for the
options it ranks). The option with the most points is the highest priority; equal points are
decided by the number of first choices, and options equal on both share a place (1, 1, 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["OptionPriority", "Priorities", "priorities", "ranking_of"]


@dataclass(frozen=True)
class OptionPriority:
    """How the people who ranked placed one option."""

    option: str  # the option's id
    place: int  # 1 for the highest priority; options tied on points and first choices share one
    points: int  # Borda points, summed over everyone who ranked
    first_choices: int  # people who put this option first
    ranked_by: int  # people who gave this option a rank at all


@dataclass(frozen=True)
class Priorities:
    """The result of one ranking question."""

    respondents: int  # n: people who ranked at least one of the options
    options: tuple[OptionPriority, ...]  # highest priority first, then in the sheet's order

    @property
    def first_choice_points(self) -> int:
        """What a first choice earns: one point per option of the question."""
        return len(self.options)


def ranking_of(answer: Any, options: Sequence[str]) -> list[str]:
    """One person's ranking, first choice first, keeping only the question's options once each.

    Answers are stored as the list of option ids in rank order. Anything else (an answer given
    before the question became a ranking, an option since removed, a repeated id) is left out.
    """
    if not isinstance(answer, list):
        return []
    known, seen, ranking = set(options), set(), []
    for option in answer:
        if isinstance(option, str) and option in known and option not in seen:
            seen.add(option)
            ranking.append(option)
    return ranking


def priorities(options: Sequence[str], answers: Iterable[Any]) -> Priorities:
    """First choices and Borda points of each option of a ranking question, highest first.

    ``options`` are the question's option ids in the sheet's order; ``answers`` are the stored
    answers (each a list of option ids, first choice first). A first choice earns as many points
    as there are options, each later place one point less; unranked options earn none.
    """
    count = len(options)
    points = dict.fromkeys(options, 0)
    first = dict.fromkeys(options, 0)
    ranked_by = dict.fromkeys(options, 0)
    respondents = 0
    for answer in answers:
        ranking = ranking_of(answer, options)
        if not ranking:
            continue
        respondents += 1
        first[ranking[0]] += 1
        for place, option in enumerate(ranking):
            points[option] += count - place
            ranked_by[option] += 1
    sheet_order = {option: index for index, option in enumerate(options)}
    ordered = sorted(options, key=lambda o: (-points[o], -first[o], sheet_order[o]))
    result: list[OptionPriority] = []
    for index, option in enumerate(ordered):
        score = (points[option], first[option])
        place = index + 1
        if result and (result[-1].points, result[-1].first_choices) == score:
            place = result[-1].place  # tied with the option above: the same place
        result.append(
            OptionPriority(option, place, points[option], first[option], ranked_by[option])
        )
    return Priorities(respondents, tuple(result))
