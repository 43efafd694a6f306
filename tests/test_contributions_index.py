"""The Contributions read model: filled in each transaction, and equal to a rebuild.

A head office fills the read model bit by bit (each participant submission, each merge, each
review, coding, codebook or consultation change). ``fieldapp db rebuild-index`` empties it and
fills it again from what is held. The two must be equal, on any sequence of changes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.cli import cli
from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import Contribution, DeviceRole, RecordHead, Submission
from fieldapp.services import contributions, records, workspace
from fieldapp.services.sync import schema
from fieldapp.textnorm import loose_key

from .sync_world import Installation, opened

GOVERNORATES = ("IQ-NI", "IQ-AR", "IQ-BG", "IQ-DA")
TEXTS = ("نريد مدرسة", "نريد مدرسة!!", "ئاو و کارەبا", "Şêxan", "Sexan", "ok", "علي", "علی")


def _consultation(governorate: str = "IQ-NI") -> str:
    record_id = workspace.save_consultation(
        {
            "kind": "town_hall",
            "title": {"ar": "اجتماع عام", "en": "Town hall"},
            "original_language": "ar",
            "status": "open",
            "governorate": governorate,
            "starts_on": "2026-11-20",
            "programme": "LPC Ninewa",
        }
    )
    return record_id


def _question(consultation: str, kind: str, position: int) -> str:
    body: dict[str, object] = {
        "position": position,
        "type": kind,
        "text": {"ar": f"سؤال {position}", "en": f"Question {position}"},
        "original_language": "ar",
    }
    if kind == "single_choice":
        body["options"] = [
            {"id": "water", "label": {"en": "Water"}},
            {"id": "schools", "label": {"en": "Schools"}},
        ]
    return workspace.add_question(consultation, body)


def _code(name: str, **extra: object) -> str:
    record_id, _rev = records.create(
        "code",
        {
            "name": {"en": name},
            "original_language": "en",
            "colour": "#0072b2",
            "status": "active",
            **extra,
        },
    )
    return record_id


def _snapshot() -> list[tuple[object, ...]]:
    return contributions.snapshot()


def _set(kind: str, submission: str, question: str, consultation: str, **body: object) -> None:
    record_id = schema.contribution_record_id(kind, submission, question)
    full = {"submission": submission, "question": question, "consultation": consultation, **body}
    head = records.current(record_id)
    if head is None:
        records.create(kind, full, record_id=record_id)
    else:
        records.update(record_id, full, head.winner_rev)


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["submit", "submit", "submit", "review", "coding", "move", "merge_code", "drop_code"]
            + ["retype", "drop_question"]
        ),
        st.integers(0, 10_000),
        st.sampled_from(TEXTS),
        st.sampled_from(schema.REVIEW_STATES),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_rebuild_equals_incremental_on_random_changes(operations) -> None:
    """Submissions, reviews, codings, code merges and deletions, a consultation moved to
    another governorate: after any sequence, the read model equals a rebuild."""
    with tempfile.TemporaryDirectory() as folder:
        laptop = Installation(Path(folder) / "office", DeviceRole.HEADOFFICE, "Office")
        with laptop.session():
            meetings = [_consultation(), _consultation("IQ-AR")]
            questions = {
                meeting: [
                    _question(meeting, "free_text", 0),
                    _question(meeting, "single_choice", 1),
                ]
                for meeting in meetings
            }
            codes = [_code("Water"), _code("Schools"), _code("Roads")]
            made: list[tuple[str, str, str]] = []  # (submission, question, consultation)
            for number, (operation, pick, text, state) in enumerate(operations):
                meeting = meetings[pick % 2]
                if operation == "submit" or not made:
                    free, choice = questions[meeting]
                    if records.current(choice).deleted:
                        continue
                    answers = {free: text, choice: "water" if pick % 3 else "schools"}
                    demographics = {"gender": ("woman", "man")[pick % 2]} if pick % 5 else None
                    submission = records.add_submission(
                        meeting, answers, "ar", "kiosk", f"key-{number}", demographics
                    )
                    made += [(submission, free, meeting), (submission, choice, meeting)]
                    continue
                submission, question, consultation = made[pick % len(made)]
                if operation == "review":
                    extra = {"reason": "duplicate"} if state == "excluded" else {}
                    _set("review", submission, question, consultation, state=state, **extra)
                elif operation == "coding":
                    chosen = [codes[pick % 3], codes[(pick // 3) % 3]]
                    _set("coding", submission, question, consultation, codes=sorted(set(chosen)))
                elif operation == "move":
                    head = records.current(meeting)
                    body = {
                        k: v for k, v in json.loads(head.body).items() if k not in workspace.STAMPS
                    }
                    body["governorate"] = GOVERNORATES[pick % len(GOVERNORATES)]
                    records.update(meeting, body, head.winner_rev)
                elif operation in ("retype", "drop_question"):
                    choice = questions[meeting][1]
                    head = records.current(choice)
                    if head.deleted:
                        continue
                    if operation == "drop_question":
                        records.delete(choice, head.winner_rev)
                        continue
                    body = {
                        k: v for k, v in json.loads(head.body).items() if k not in workspace.STAMPS
                    }
                    body["type"] = (
                        "free_text" if body["type"] == "single_choice" else "single_choice"
                    )
                    records.update(choice, body, head.winner_rev)
                elif operation == "merge_code":
                    source, target = codes[pick % 3], codes[(pick + 1) % 3]
                    head = records.current(source)
                    if not head.deleted:
                        body = {
                            k: v
                            for k, v in json.loads(head.body).items()
                            if k not in workspace.STAMPS
                        }
                        body.update(merged_into=target, status="retired")
                        records.update(source, body, head.winner_rev)
                elif operation == "drop_code":
                    head = records.current(codes[pick % 3])
                    if not head.deleted:
                        records.delete(codes[pick % 3], head.winner_rev)
            incremental = _snapshot()
            contributions.rebuild()
            assert _snapshot() == incremental


def test_a_merge_fills_the_read_model_and_an_office_export_carries_reviews(tmp_path) -> None:
    """A region merges a laptop, reviews and codes; the nation merges the region's file: both
    hold the same read model, and each equals its own rebuild."""
    nation = Installation(tmp_path / "nation", DeviceRole.HEADOFFICE, "National office")
    region = Installation(tmp_path / "region", DeviceRole.HEADOFFICE, "Erbil office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Laptop", (region,))
    region.register(laptop, nation)
    nation.register(region)
    (tmp_path / "files").mkdir()
    with laptop.session():
        meeting = _consultation()
        free = _question(meeting, "free_text", 0)
        first = records.add_submission(meeting, {free: "نريد مدرسة"}, "ar", "kiosk", "a")
        second = records.add_submission(meeting, {free: "نريد مدرسة!!"}, "ar", "kiosk", "b")
    [summary] = region.merge(laptop.export(tmp_path / "files"))
    assert summary.ok, summary.error
    with region.session():
        code = _code("Schools")
        _set("review", first, free, meeting, state="approved")
        _set("review", second, free, meeting, state="excluded", reason="duplicate")
        _set("coding", first, free, meeting, codes=[code])
        rows = {r.submission_uuid: r for r in db.session.query(Contribution)}
        assert (rows[first].state, rows[first].codes) == ("approved", code)
        assert (rows[second].state, rows[second].reason) == ("excluded", "duplicate")
        assert rows[first].dup_key == rows[second].dup_key  # "nearly equal"
        assert rows[first].search_key == loose_key("نريد مدرسة")
        assert (rows[first].governorate, rows[first].programme) == ("IQ-NI", "LPC Ninewa")
        regional = _snapshot()
    [summary] = nation.merge(region.export(tmp_path / "files"))
    assert summary.ok, summary.error
    with nation.session():
        assert _snapshot() == regional
        contributions.rebuild()
        assert _snapshot() == regional


def test_rebuild_index_command_and_untouched_submissions(tmp_path) -> None:
    """The command rebuilds (exit 0, JSON figures); submissions stay byte for byte."""
    laptop = Installation(tmp_path / "office", DeviceRole.HEADOFFICE, "Office")
    with laptop.session():
        meeting = _consultation()
        free = _question(meeting, "free_text", 0)
        records.add_submission(meeting, {free: "ئاو و کارەبا"}, "ckb", "kiosk", "a")
        before = [s.body for s in db.session.query(Submission)]
        expected = _snapshot()
        with writing():
            db.session.query(Contribution).delete()  # a damaged index
    result = CliRunner().invoke(
        cli, ["--instance", str(laptop.folder), "db", "rebuild-index", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1]) == {
        "contributions": 1,
        "reviews_and_codings": 0,
        "submissions": 1,
    }
    with opened(laptop.folder):
        assert _snapshot() == expected
        assert [s.body for s in db.session.query(Submission)] == before
        assert db.session.query(RecordHead).filter_by(kind="consultation").count() == 1


def test_only_typed_answers_are_searchable_text(tmp_path) -> None:
    """A single choice is a string too (the option id), but it is not typed text: no search
    key, never a "possible duplicate" of everyone who picked the same option."""
    office = Installation(tmp_path / "office", DeviceRole.HEADOFFICE, "Office")
    with office.session():
        meeting = _consultation()
        free = _question(meeting, "free_text", 0)
        choice = _question(meeting, "single_choice", 1)
        for number in range(3):
            records.add_submission(
                meeting, {free: f"نريد مدرسة {number}", choice: "water"}, "ar", "kiosk", str(number)
            )
        rows = db.session.query(Contribution).filter_by(question_id=choice).all()
        assert [(r.text, r.value, r.search_key, r.dup_key) for r in rows] == [
            (None, '"water"', None, None)
        ] * 3
        typed = db.session.query(Contribution).filter_by(question_id=free).all()
        assert all(r.text and r.search_key for r in typed)


def test_a_laptop_upgraded_in_the_field_sees_its_contributions(tmp_path) -> None:
    """A database at the schema before the read model (0004), holding submissions, is
    upgraded: the migration creates the read model and fills it from what the laptop holds."""
    from flask_migrate import downgrade, upgrade

    from fieldapp import MIGRATIONS_DIR

    office = Installation(tmp_path / "office", DeviceRole.HEADOFFICE, "Office")
    with office.session():
        meeting = _consultation()
        free = _question(meeting, "free_text", 0)
        for number in range(3):
            records.add_submission(meeting, {free: f"ئاو {number}"}, "ckb", "kiosk", str(number))
        expected = _snapshot()
        db.session.remove()
        downgrade(directory=MIGRATIONS_DIR, revision="0004")
        assert "contribution" not in db.inspect(db.engine).get_table_names()
        upgrade(directory=MIGRATIONS_DIR)
        assert _snapshot() == expected
        assert len(expected) == 3
