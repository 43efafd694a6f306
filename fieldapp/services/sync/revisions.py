"""Record versions, CouchDB style: the rules every installation applies identically.

A version of a record has ``rev = "<generation>-<hash>"`` where ``hash`` is the SHA-256 of the
parent rev, the canonical JSON of the body and the deleted flag. The state of a record is the
*set* of its versions. Its current value is the winning leaf (a version no other version names
as parent): live leaves before deleted ones, then the highest generation, then the highest
hash. Other live leaves are conflicts, kept and listed, never dropped.

Because the state is a set and the winner depends only on the set, merging is a set union:
importing a file twice, or files in any order or grouping, gives the same result.

Deletion policy: a deletion is a version with ``deleted`` true. An older file can never undo it
(its versions are ancestors of the deletion, so never leaves). An *edit made concurrently* with
the deletion on another laptop is a live leaf and wins over the deletion. The deletion is not
a conflict (only live leaves are): nothing anyone said is lost, and nothing needs resolving.

Wall-clock times are never part of a rev or of the winner rule: the display-only fields
(``updated_at``, ``updated_by``) are left out of the hash. Two laptops that make the same change
to the same version therefore make the same rev; of their two display stamps, every
installation keeps the same one (the smaller body text), so arrival order still does not matter.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

# Fields shown to people but never deciding anything: when and on which laptop a version was
# made (laptop clocks are often wrong; the same change made on two laptops is one change).
DISPLAY_ONLY = frozenset({"updated_at", "updated_by", "account"})
REV_PATTERN = re.compile(r"^([1-9][0-9]{0,8})-([0-9a-f]{64})$")


class InvalidRevision(ValueError):
    """A rev that is malformed or does not match its content; ``message`` is translatable."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` the same way on every machine: sorted keys, no spaces, UTF-8.

    NaN and infinities are refused: they have no canonical JSON form.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse_rev(rev: str) -> tuple[int, str]:
    """Split a rev into its generation and hash, refusing anything malformed."""
    match = REV_PATTERN.match(rev)
    if match is None:
        raise InvalidRevision(_l("malformed rev: %(rev)s", rev=repr(str(rev)[:80])))
    return int(match.group(1)), match.group(2)


def compute_rev(parent: str | None, body: Mapping[str, Any], deleted: bool) -> str:
    """The rev of a version with this parent, body and deleted flag."""
    generation = 1 if parent is None else parse_rev(parent)[0] + 1
    digest = hashlib.sha256()
    digest.update((parent or "").encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_json({k: v for k, v in body.items() if k not in DISPLAY_ONLY}))
    digest.update(b"\n1" if deleted else b"\n0")
    return f"{generation}-{digest.hexdigest()}"


@dataclass(frozen=True)
class Version:
    """One version of one record."""

    rev: str
    parent: str | None
    body: Mapping[str, Any] = field(compare=False, hash=False)
    deleted: bool = False

    @property
    def generation(self) -> int:
        """How many edits led to this version (1 for the first)."""
        return parse_rev(self.rev)[0]

    @property
    def sort_key(self) -> tuple[bool, int, str]:
        """The winner rule: live first, then highest generation, then highest hash."""
        generation, digest = parse_rev(self.rev)
        return (not self.deleted, generation, digest)

    def verify(self) -> None:
        """Refuse a version whose rev does not follow from its parent, body and flag."""
        if self.parent is not None:
            parent_generation = parse_rev(self.parent)[0]
            if self.generation != parent_generation + 1:
                raise InvalidRevision(
                    _l("generation does not follow its parent: %(rev)s", rev=self.rev)
                )
        elif self.generation != 1:
            raise InvalidRevision(
                _l("a first version must have generation 1: %(rev)s", rev=self.rev)
            )
        try:
            rev = compute_rev(self.parent, self.body, self.deleted)
        except UnicodeEncodeError:  # a lone surrogate such as \ud800 is not text
            raise InvalidRevision(_l("contains a character that is not valid text")) from None
        if rev != self.rev:
            raise InvalidRevision(_l("rev does not match the content: %(rev)s", rev=self.rev))


def first_version(body: Mapping[str, Any]) -> Version:
    """The first version of a new record."""
    return Version(compute_rev(None, body, False), None, body, False)


def next_version(parent: Version, body: Mapping[str, Any], deleted: bool = False) -> Version:
    """A version that edits (or, with ``deleted``, deletes) ``parent``."""
    return Version(compute_rev(parent.rev, body, deleted), parent.rev, body, deleted)


@dataclass(frozen=True)
class Resolution:
    """What a record's set of versions means now."""

    winner: Version
    conflicts: tuple[Version, ...]  # other live leaves, best first

    @property
    def deleted(self) -> bool:
        """True when every leaf is a deletion."""
        return self.winner.deleted


def leaves(versions: Iterable[Version]) -> list[Version]:
    """The versions that no other version in the set names as its parent."""
    items = list(versions)
    parents = {v.parent for v in items if v.parent is not None}
    return [v for v in items if v.rev not in parents]


def resolve(versions: Iterable[Version]) -> Resolution:
    """Choose the winning leaf and list the conflicting live leaves (deterministic)."""
    candidates = sorted(leaves(versions), key=lambda v: v.sort_key, reverse=True)
    if not candidates:
        raise ValueError("a record needs at least one version")
    winner, others = candidates[0], candidates[1:]
    return Resolution(winner, tuple(v for v in others if not v.deleted))


def union(*version_sets: Iterable[Version]) -> dict[str, Version]:
    """Merge sets of versions of one record, keyed by rev (idempotent and order-free)."""
    merged: dict[str, Version] = {}
    for versions in version_sets:
        for version in versions:
            merged.setdefault(version.rev, version)
    return merged
