"""Installations for the sync tests: a head office, laptops, exports, carried files."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, g

from fieldapp import create_app
from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import DeviceRole, RecordHead
from fieldapp.services import demo, records, workspace
from fieldapp.services.sync import keys
from fieldapp.services.sync.export import export_bundle
from fieldapp.services.sync.merge import MergeSummary, merge_files
from fieldapp.services.sync.stats import stats

from .conftest import FAST_HASH, SERVICE_CONTEXT, isolate_requests, make_app


@contextlib.contextmanager
def copied_site(source: Path, into: Path) -> Iterator[Flask]:
    """:func:`site` on a fresh copy of the installation in ``source`` (one per test), with
    CSRF off and fast password hashing."""
    shutil.copytree(source, into)
    with site(into, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST_HASH) as app:
        yield app


@contextlib.contextmanager
def site(folder: Path, **config: Any) -> Iterator[Flask]:
    """An app on an existing instance folder for test clients; engine closed after.

    No app context is pushed: each request gets its own, as in production, so a client sees
    only its own cookies. Wrap direct service calls in ``with app.app_context():``.
    """
    app = isolate_requests(create_app({"TESTING": True, **config}, instance_path=folder))
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@contextlib.contextmanager
def opened(folder: Path, **config: Any) -> Iterator[Flask]:
    """An app on an existing instance folder, inside its app context, for service calls only.

    Test-client requests inside it are refused (they would share ``g``, and with it the
    signed-in user, with each other): use :func:`site` for pages.
    """
    with site(folder, **config) as app, app.app_context():
        setattr(g, SERVICE_CONTEXT, True)
        try:
            yield app
        finally:
            db.session.remove()


class Installation:
    """One fieldapp installation in a folder of its own."""

    def __init__(
        self,
        folder: Path,
        role: DeviceRole,
        name: str,
        headoffices: tuple[Installation, ...] = (),
        **config: Any,
    ) -> None:
        self.folder = folder
        self.config = config
        app = make_app(folder, **config)
        with app.app_context():
            keys.initialise(folder, role, name, [h.public for h in headoffices])
            self.public = keys.public_key_info(keys.self_device())
            db.session.remove()
            db.engine.dispose()

    def session(self) -> contextlib.AbstractContextManager[Flask]:
        """Work on this installation."""
        return opened(self.folder, **self.config)

    def register(self, *others: Installation) -> None:
        """Register other installations' public keys here."""
        with self.session():
            for other in others:
                keys.register(other.public)

    def export(self, destination: Path) -> Path:
        """Write a bundle into ``destination`` and return its path."""
        with self.session():
            return Path(export_bundle(self.folder, destination).path)

    def merge(self, *paths: Path) -> list[MergeSummary]:
        """Merge bundles here."""
        with self.session():
            return merge_files(list(paths), self.folder)

    def stats(self) -> dict[str, Any]:
        """Counts and digest."""
        with self.session():
            return stats()


def editable_body(head: RecordHead) -> dict[str, Any]:
    """The body of a record as a form would show it (without the stamps)."""
    body = json.loads(head.body)
    return {k: v for k, v in body.items() if k not in ("updated_at", "updated_by")}


def copy_record(source: Installation, target: Installation, record_id: str) -> None:
    """Give ``target`` the exact versions ``source`` has of one record (as a template would)."""
    with source.session():
        versions = records.load_versions(record_id)
        kind = records.current(record_id).kind
    with target.session(), writing():
        records.store_versions(kind, record_id, versions)


def build_world(root: Path) -> dict[str, Any]:
    """Head office, two laptops and a regional office, and the bundles they carried.

    - laptop A exports (A1), then edits a shared consultation and deletes an action point
      and exports again (A2);
    - laptop B edits the same shared consultation concurrently and exports (B1);
    - a regional office merges A1 and B1 and exports (R1) for head office.
    """
    files = root / "files"
    files.mkdir()
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    regional = Installation(root / "regional", DeviceRole.HEADOFFICE, "Duhok regional office")
    a = Installation(root / "a", DeviceRole.FIELD, "Bashiqa laptop", (ho, regional))
    b = Installation(root / "b", DeviceRole.FIELD, "Sinjar laptop", (ho, regional))
    regional.register(ho, a, b)
    ho.register(a, b, regional)
    with a.session():
        demo.fill(consultations=2, submissions=40, seed=1)
        shared = workspace.list_consultations()[0].id
    with b.session():
        demo.fill(consultations=1, submissions=25, seed=2)
    copy_record(a, b, shared)
    a1 = a.export(files)
    with a.session():
        head = records.current(shared)
        records.update(shared, {**editable_body(head), "status": "closed"}, head.winner_rev)
        action = workspace.open_actions()[0]
        records.delete(action.id, action.rev)
        deleted_id = action.id
    a2 = a.export(files)
    with b.session():
        head = records.current(shared)
        body = editable_body(head)
        body["place"] = "Sinjar town hall"
        records.update(shared, body, head.winner_rev)
    b1 = b.export(files)
    regional.merge(a1, b1)
    r1 = regional.export(files)
    return {
        "ho": ho,
        "regional": regional,
        "a": a,
        "b": b,
        "files": {"A1": a1, "A2": a2, "B1": b1, "R1": r1},
        "shared": shared,
        "deleted": deleted_id,
    }


def clone(installation: Installation, folder: Path) -> Installation:
    """A copy of an installation's folder (a backup restored elsewhere)."""
    shutil.copytree(installation.folder, folder)
    copy = object.__new__(Installation)
    copy.folder = folder
    copy.config = installation.config
    copy.public = installation.public
    return copy


def meeting_laptop(root: Path, languages: tuple[str, ...] = ("ar", "ckb")) -> tuple[Path, str, str]:
    """A field laptop with an open consultation of one free-text question.

    Returns the laptop's instance folder, the join code and the question's id.
    """
    from fieldapp.services import intake, workspace

    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Laptop", (ho,))
    with laptop.session():
        record_id = workspace.save_consultation(
            {
                "kind": "town_hall",
                "title": {"ar": "اجتماع عام"},
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": list(languages),
            }
        )
        question = workspace.add_question(
            record_id,
            {"type": "free_text", "text": {"ar": "ماذا تقترح؟"}, "original_language": "ar"},
        )
        code = intake.open_intake(record_id)
    return laptop.folder, code, question
