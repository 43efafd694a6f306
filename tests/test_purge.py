"""Purging what head office acknowledged: does a seized laptop still hold the answers?

A laptop exports, head office merges and writes a receipt, the laptop applies it and purges.
The sentinel test reads every byte of every file under the laptop's instance folder.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fieldapp.extensions import db
from fieldapp.models import (
    AuditEvent,
    Contribution,
    DeviceRole,
    ParticipantDraft,
    Submission,
)
from fieldapp.services import intake, purge, records, workspace
from fieldapp.services.errors import FieldappError
from fieldapp.services.sync import receipts

from .sync_world import Installation


def _world(root: Path) -> tuple[Installation, Installation, str, str]:
    """A head office and a laptop with one open consultation of one free-text question."""
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        consultation = workspace.save_consultation(
            {
                "kind": "town_hall",
                "title": {"ar": "اجتماع عام"},
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": ["ar", "ckb"],
            }
        )
        question = workspace.add_question(
            consultation,
            {"type": "free_text", "text": {"ar": "ماذا تقترح؟"}, "original_language": "ar"},
        )
    return ho, laptop, consultation, question


def _answer(laptop: Installation, consultation: str, question: str, text: str) -> str:
    """One participant's submission on the laptop; its id."""
    with laptop.session():
        return records.add_submission(
            consultation, {question: text}, "ar", "kiosk", secrets.token_hex(8)
        )


def _receipt(ho: Installation, laptop: Installation) -> bytes:
    with ho.session():
        return receipts.write_receipt(laptop.public.device_id, ho.folder).data


def _held(laptop: Installation) -> set[str]:
    with laptop.session():
        return set(db.session.execute(select(Submission.uuid)).scalars())


def _files_containing(folder: Path, needle: bytes) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


@pytest.fixture
def world(tmp_path: Path) -> tuple[Installation, Installation, str, str]:
    return _world(tmp_path)


def test_a_purged_sentinel_answer_is_in_no_byte_of_the_laptops_files(world, tmp_path) -> None:
    """After export, merge, receipt and purge, the answer's words are nowhere on the laptop:
    not in the database, its -wal or -shm, the exports folder, or any other file."""
    ho, laptop, consultation, question = world
    sentinel = f"زيتون-{secrets.token_hex(6)}-sentinel"
    needle = sentinel.encode("utf-8")
    ascii_part = needle.split(b"-")[1]
    _answer(laptop, consultation, question, sentinel)
    # Exported into the instance's own exports/ folder, as the Export page does.
    with laptop.session():
        from fieldapp.services.sync.export import export_bundle

        bundle = Path(export_bundle(laptop.folder).path)
    assert bundle.parent == laptop.folder / "exports"
    assert ho.merge(bundle)[0].ok
    with laptop.session():
        purge.apply_receipt(_receipt(ho, laptop))
    assert _files_containing(laptop.folder, ascii_part)  # still here before the purge
    with laptop.session():
        result = purge.purge()
        # Read while the installation is still open, as a laptop seized with fieldapp running:
        # closing the last connection would checkpoint the log by itself and hide a missing one.
        assert db.session.execute(select(func.count()).select_from(Submission)).scalar_one() == 0
        assert (laptop.folder / "fieldapp.sqlite3-wal").exists()
        found = _files_containing(laptop.folder, needle) + _files_containing(
            laptop.folder, ascii_part
        )
    assert result.submissions == 1
    assert result.answers == 1
    assert result.wiped
    assert found == []
    assert _files_containing(laptop.folder, ascii_part) == []  # and after closing
    # Head office still holds it.
    with ho.session():
        assert (
            db.session.execute(
                select(func.count()).select_from(Contribution).where(Contribution.text == sentinel)
            ).scalar_one()
            == 1
        )


def test_without_a_receipt_a_purge_removes_nothing(world) -> None:
    """Exported and even merged, but no receipt applied: nothing is removed."""
    ho, laptop, consultation, question = world
    kept = _answer(laptop, consultation, question, "keep me")
    assert ho.merge(laptop.export(laptop.folder.parent))[0].ok
    with laptop.session():
        assert purge.plan().submissions == 0
        result = purge.purge()
    assert result.submissions == 0
    assert _held(laptop) == {kept}


def test_a_submission_made_after_the_export_survives_the_purge(world) -> None:
    """Only what an acknowledged export carried leaves; a later answer, and one first carried
    by an export head office has not acknowledged, stay."""
    ho, laptop, consultation, question = world
    files = laptop.folder.parent
    early = _answer(laptop, consultation, question, "first answer")
    first = laptop.export(files)
    assert ho.merge(first)[0].ok
    data = _receipt(ho, laptop)  # acknowledges export 1 only
    exported_later = _answer(laptop, consultation, question, "in export 2 only")
    laptop.export(files)  # export 2 carries both; head office has not merged it
    never_exported = _answer(laptop, consultation, question, "never exported")
    with laptop.session():
        applied = purge.apply_receipt(data)
        assert applied.acknowledged == [(1, 1)]
        assert applied.purgeable == 1
        result = purge.purge()
    assert result.submissions == 1
    assert _held(laptop) == {exported_later, never_exported}
    assert early not in _held(laptop)


def test_the_next_export_after_a_purge_merges_cleanly_and_head_office_keeps_everything(
    world,
) -> None:
    """Head office does not take a purged submission for a deleted one: its counts and digest
    are unchanged by the next export, which adds only the new answers."""
    ho, laptop, consultation, question = world
    files = laptop.folder.parent
    for n in range(3):
        _answer(laptop, consultation, question, f"answer {n}")
    assert ho.merge(laptop.export(files))[0].ok
    with laptop.session():
        purge.apply_receipt(_receipt(ho, laptop))
        assert purge.purge().submissions == 3
    before = ho.stats()
    second = laptop.export(files)
    summary = ho.merge(second)[0]
    assert summary.ok
    assert summary.new == 0
    assert summary.missing_exports == []
    assert ho.stats() == before
    after_purge = _answer(laptop, consultation, question, "after the purge")
    summary = ho.merge(laptop.export(files))[0]
    assert summary.ok
    assert summary.new == 1
    assert ho.stats()["counts"]["submissions"] == before["counts"]["submissions"] + 1
    assert _held(laptop) == {after_purge}


def test_purge_keeps_the_meeting_and_logs_a_count_never_the_text(world) -> None:
    """Consultations and questions stay; the activity log says how many, not what."""
    ho, laptop, consultation, question = world
    _answer(laptop, consultation, question, "a private sentence")
    assert ho.merge(laptop.export(laptop.folder.parent))[0].ok
    with laptop.session():
        purge.apply_receipt(_receipt(ho, laptop))
        purge.purge()
        assert records.current(consultation) is not None
        assert records.current(question) is not None
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "purge.done")
        ).scalar_one()
        assert '"count": 1' in event.detail
        assert "private" not in event.detail


def test_idle_drafts_are_removed_and_a_participant_still_answering_is_not(world) -> None:
    """Unfinished answers left idle (already forgotten by the app) go; a live one stays."""
    from datetime import timedelta

    from sqlalchemy import update

    from fieldapp.database import writing
    from fieldapp.models.types import utcnow

    ho, laptop, consultation, question = world
    _answer(laptop, consultation, question, "x")
    assert ho.merge(laptop.export(laptop.folder.parent))[0].ok
    with laptop.session():
        stale = intake.start(consultation, "ar", "kiosk")
        live = intake.start(consultation, "ar", "kiosk")
        with writing() as session:
            session.execute(
                update(ParticipantDraft)
                .where(ParticipantDraft.token_hash == intake._hash(stale))
                .values(updated_at=utcnow() - timedelta(hours=1))
            )
        purge.apply_receipt(_receipt(ho, laptop))
        assert purge.purge().drafts == 1
        assert intake.load(live, consultation) is not None


def test_purge_after_days_removes_acknowledged_answers_by_itself(tmp_path) -> None:
    """PURGE_AFTER_DAYS = 0: applying the receipt purges at once; unset: nothing happens."""
    ho, laptop, consultation, question = _world(tmp_path)
    _answer(laptop, consultation, question, "x")
    assert ho.merge(laptop.export(tmp_path))[0].ok
    data = _receipt(ho, laptop)
    with laptop.session():
        assert purge.purge_due() is None  # off by default
    laptop.config["PURGE_AFTER_DAYS"] = 3
    with laptop.session():
        applied = purge.apply_receipt(data)
        assert applied.purged is None
        assert applied.purgeable == 1
    laptop.config["PURGE_AFTER_DAYS"] = 0
    with laptop.session():
        done = purge.purge_due()
    assert done is not None
    assert done.submissions == 1
    assert _held(laptop) == set()


def test_the_activity_page_shows_the_receipt_and_the_purge(world) -> None:
    """A coordinator on the laptop sees who applied which receipt and how many answers left."""
    from fieldapp.models import Role

    from .conftest import add_user, login
    from .sync_world import site

    ho, laptop, consultation, question = world
    _answer(laptop, consultation, question, "x")
    assert ho.merge(laptop.export(laptop.folder.parent))[0].ok
    with laptop.session():
        purge.apply_receipt(_receipt(ho, laptop))
        purge.purge()
    with site(laptop.folder, WTF_CSRF_ENABLED=False) as app:
        add_user(app, "amira", Role.COORDINATOR)
        client = app.test_client()
        login(client)
        html = client.get("/activity").get_data(as_text=True)
    assert "Receipt applied" in html
    assert "Erbil head office" in html
    assert "1 submission that head office holds was removed from this laptop." in html


def test_a_head_office_never_applies_a_receipt_or_purges_what_it_merged(tmp_path) -> None:
    """Two head offices: a receipt from one must not let the other delete the answers it
    merged, neither by hand nor with PURGE_AFTER_DAYS."""
    ho, laptop, consultation, question = _world(tmp_path)
    peer = Installation(tmp_path / "peer", DeviceRole.HEADOFFICE, "Baghdad head office")
    ho.register(peer)
    peer.register(ho)
    _answer(laptop, consultation, question, "kept at head office")
    assert ho.merge(laptop.export(tmp_path))[0].ok
    assert peer.merge(ho.export(tmp_path))[0].ok
    with peer.session():
        data = receipts.write_receipt(ho.public.device_id, peer.folder).data
    ho.config["PURGE_AFTER_DAYS"] = 0
    with ho.session():
        before = db.session.execute(select(func.count()).select_from(Contribution)).scalar_one()
        with pytest.raises(FieldappError) as refused:
            purge.apply_receipt(data)
        assert "head office" in str(refused.value.message)
        with pytest.raises(FieldappError):
            purge.purge()
        assert purge.purge_due() is None
        assert before
        assert (
            db.session.execute(select(func.count()).select_from(Contribution)).scalar_one()
            == before
        )
    assert len(_held(ho)) == 1


def test_a_purge_removes_a_clear_copy_a_cut_backup_left_behind(world) -> None:
    """A backup cut short left a snapshot in instance/tmp: the answers a purge removes must not
    stay there."""
    ho, laptop, consultation, question = world
    sentinel = "sentinel-" + secrets.token_hex(6)
    _answer(laptop, consultation, question, sentinel)
    assert ho.merge(laptop.export(laptop.folder.parent))[0].ok
    leftover = laptop.folder / "tmp" / "work-cut"
    leftover.mkdir(parents=True)
    (leftover / ".in-use").touch()  # its lock file, which the dead process no longer holds
    (leftover / "fieldapp.sqlite3").write_bytes(b"... " + sentinel.encode() + b" ...")
    with laptop.session():
        purge.apply_receipt(_receipt(ho, laptop))
        assert purge.purge().submissions == 1
    assert _files_containing(laptop.folder, sentinel.encode()) == []
    assert not leftover.exists()
