"""Conflicts: can head office see two versions of one record side by side and end the conflict,
so that the resolution wins on every installation, whatever order the files come in?

The world (built once per module): laptops A and B hold the same consultation and action
point; both edit the action point and export. A regional office merges both files, an analyst
resolves the conflict through the web page, and the region exports. The national office
merges the laptops' files and the region's in every order.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from fieldapp.extensions import db
from fieldapp.models import DeviceRole, RecordHead, Role
from fieldapp.services import conflicts, records
from fieldapp.services.sync import schema

from .conftest import add_user, login, make_app, set_language, translated
from .sync_world import Installation, clone, copy_record, editable_body, site
from .test_postgres import _reason as pg_unavailable
from .test_postgres import pg_urls  # noqa: F401,F811 -- a fixture, used by name below

pg_skip = pytest.mark.skipif(bool(pg_unavailable), reason=pg_unavailable or "")

FAST = "scrypt:1024:8:1"
ANALYST = records.Actor(None, "hana", "Hana Aziz")


def head_of(installation: Installation, record_id: str) -> tuple[str, int, dict, bool]:
    """winner rev, conflicts, editable body and deleted flag of a record."""
    with installation.session():
        head = records.current(record_id)
        return head.winner_rev, head.conflicts, editable_body(head), head.deleted


def edit(installation: Installation, record_id: str, actor: records.Actor, **changes) -> str:
    """Edit a record on its current winner, as ``actor``."""
    with installation.session(), records.acting_as(actor):
        head = records.current(record_id)
        body = {k: v for k, v in editable_body(head).items() if k != "account"}
        return records.update(record_id, {**body, **changes}, head.winner_rev)


def new_world(root: Path) -> dict:
    """National and regional offices, two laptops sharing a consultation and an action point."""
    national = Installation(root / "national", DeviceRole.HEADOFFICE, "Baghdad national office")
    region = Installation(root / "region", DeviceRole.HEADOFFICE, "Erbil regional office")
    mosul = Installation(root / "mosul", DeviceRole.HEADOFFICE, "Mosul regional office")
    offices = (national, region, mosul)
    a = Installation(root / "a", DeviceRole.FIELD, "Bashiqa laptop", offices)
    b = Installation(root / "b", DeviceRole.FIELD, "Sinjar laptop", offices)
    region.register(national, a, b)
    mosul.register(national, a, b)
    national.register(a, b, region, mosul)
    with a.session(), records.acting_as(records.Actor(None, "amira", "Amira Hassan")):
        consultation, _ = records.create(
            "consultation",
            {
                "kind": "lpc_meeting",
                "title": {"ar": "اجتماع لجنة السلام المحلية، بعشيقة", "en": "LPC meeting, Bashiqa"},
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": ["ar", "ckb", "en"],
            },
        )
        action, _ = records.create(
            "action_point",
            {
                "consultation": consultation,
                "text": {"ar": "إصلاح طريق المدرسة", "en": "Repair the school road"},
                "original_language": "ar",
                "priority": "high",
                "status": "agreed",
                "notes": [{"on": "2026-03-12", "text": "Agreed with the municipality"}],
            },
        )
        second, _ = records.create(
            "action_point",
            {
                "consultation": consultation,
                "text": {"ckb": "چاککردنی بۆری ئاو"},
                "original_language": "ckb",
                "priority": "medium",
                "status": "agreed",
            },
        )
        question, _ = records.create(
            "question",
            {
                "consultation": consultation,
                "position": 0,
                "type": "free_text",
                "text": {"ar": "ما هي أولوياتكم؟", "ckb": "ئەولەویەتەکانتان چین؟"},
                "original_language": "ar",
            },
        )
        submission = records.add_submission(
            consultation, {question: "مدرسة للبنات"}, "ar", "paper", "paper-1"
        )
    for record_id in (consultation, action, second, question):
        copy_record(a, b, record_id)
    return {
        "national": national,
        "region": region,
        "mosul": mosul,
        "a": a,
        "b": b,
        "consultation": consultation,
        "action": action,
        "second": second,
        "question": question,
        "submission": submission,
    }


def browser_for(app, username: str, role: Role, name: str = ""):
    """A signed-in test client of ``app`` for a new account."""
    add_user(app, username, role, display_name=name)
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def hidden(page: str, name: str) -> list[str]:
    """The values of the hidden inputs called ``name`` on a page."""
    return re.findall(rf'name="{name}" (?:type="hidden" )?value="([^"]*)"', page) + re.findall(
        rf'id="{name}" name="{name}" type="hidden" value="([^"]*)"', page
    )


def base_revs(page: str) -> str:
    """The revs a page compared (every form on it carries the same)."""
    found = set(re.findall(r'name="base_revs" (?:type="hidden" )?value="([^"]*)"', page))
    found |= set(re.findall(r'name="base_revs" type="hidden" value="([^"]*)"', page))
    found |= set(re.findall(r'id="base_revs" name="base_revs" type="hidden" value="([^"]*)"', page))
    assert len(found) == 1, found
    return found.pop()


# ---- two laptops edit the same action point; the region resolves; the nation merges ----------

RESOLVED = {
    "text_ar": "إصلاح طريق المدرسة",
    "text_en": "Repair the school road before the winter",
    "responsible": "Sinjar municipality",
    "due_on": "2026-10-01",
    "priority": "medium",
    "status": "in_progress",
    "original_language": "ar",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The laptops' files (A, B) and the region's file (R) after it resolved the conflict."""
    root = tmp_path_factory.mktemp("conflicts")
    w = new_world(root)
    files = root / "files"
    files.mkdir()
    action = w["action"]
    edit(
        w["a"],
        action,
        records.Actor(None, "amira", "Amira Hassan"),
        status="in_progress",
        notes=[
            {"on": "2026-03-12", "text": "Agreed with the municipality"},
            {"on": "2026-04-02", "text": "Contractor chosen"},
        ],
    )
    edit(
        w["b"],
        action,
        records.Actor(None, "karwan", "Karwan Ali"),
        responsible="Sinjar municipality",
        priority="medium",
    )
    a_file, b_file = w["a"].export(files), w["b"].export(files)
    [sa, sb] = w["region"].merge(a_file, b_file)
    assert sa.ok
    assert sb.ok
    assert sb.conflicts == 1
    with site(w["region"].folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        browser = browser_for(app, "hana", Role.ANALYST, "Hana Aziz")
        listing = browser.get("/conflicts").get_data(as_text=True)
        assert f"/conflicts/{action}" in listing
        assert "Repair the school road" in listing
        page = browser.get(f"/conflicts/{action}").get_data(as_text=True)
        w["page"] = page
        response = browser.post(
            f"/conflicts/{action}/combine", data={**RESOLVED, "base_revs": base_revs(page)}
        )
        assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
        w["after"] = browser.get(response.headers["Location"]).get_data(as_text=True)
    w["files"] = {"A": a_file, "B": b_file, "R": w["region"].export(files)}
    w["resolved"] = head_of(w["region"], action)
    return w


def test_the_region_sees_both_versions_side_by_side_with_who_where_and_when(world):
    """The page names each version's installation, account and time, and marks differences."""
    page = world["page"]
    assert "Bashiqa laptop" in page
    assert "Sinjar laptop" in page
    assert "Amira Hassan" in page
    assert "Karwan Ali" in page
    assert page.count("Keep this version") == 2
    # Responsible, priority, status and progress differ; the text does not.
    differing = re.findall(r'<tr class="differs">\s*<th scope="row">([^<]+)<mark', page)
    assert {d.strip() for d in differing} == {"Responsible", "Priority", "Status", "Progress"}
    assert page.count("differs</mark>") == 4
    # The combination form starts from the winner and keeps everyone's notes.
    assert "The progress notes of every version are kept." in page


def test_the_resolution_is_saved_with_every_note_and_no_conflict_left(world):
    """After resolving, the region holds one version made of both, notes of both laptops."""
    _rev, conflicts_left, body, deleted = world["resolved"]
    assert conflicts_left == 0
    assert not deleted
    assert body["responsible"] == "Sinjar municipality"
    assert body["status"] == "in_progress"
    assert body["priority"] == "medium"
    assert body["text"]["en"] == "Repair the school road before the winter"
    assert [n["text"] for n in body["notes"]] == [
        "Agreed with the municipality",
        "Contractor chosen",
    ]
    assert body["account"] == {"username": "hana", "name": "Hana Aziz"}
    assert "No record has a conflict." in world["after"]
    assert "The conflict is resolved" in world["after"]


@pytest.mark.parametrize("order", list(itertools.permutations(["A", "B", "R"])))
def test_the_nation_shows_the_resolution_whatever_order_the_files_come_in(world, order, tmp_path):
    """Laptops' files and the region's file in any order: the resolution, no conflict."""
    national = clone(world["national"], tmp_path / "national")
    summaries = national.merge(*(world["files"][name] for name in order))
    assert all(s.ok for s in summaries), [s.error for s in summaries]
    rev, conflicts_left, body, deleted = head_of(national, world["action"])
    assert (rev, conflicts_left, body, deleted) == world["resolved"]
    with national.session():
        assert db.session.query(RecordHead).filter(RecordHead.conflicts > 0).count() == 0
        assert conflicts.list_conflicts() == ([], None)


def test_every_order_gives_the_nation_the_same_data(world, tmp_path):
    """The digest of the national office does not depend on the order of the files."""
    digests = set()
    for index, order in enumerate(itertools.permutations(["A", "B", "R"])):
        national = clone(world["national"], tmp_path / str(index))
        national.merge(*(world["files"][name] for name in order))
        digests.add(national.stats()["digest"])
    assert len(digests) == 1


def test_the_nation_sees_no_conflict_on_its_pages(world, tmp_path):
    """Merged in the worst order (R first), the national office's pages show no conflict."""
    national = clone(world["national"], tmp_path / "national")
    national.merge(world["files"]["R"], world["files"]["B"], world["files"]["A"])
    with site(national.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        browser = browser_for(app, "zainab", Role.COORDINATOR)
        assert "No record has a conflict." in browser.get("/conflicts").get_data(as_text=True)
        page = browser.get(f"/conflicts/{world['action']}")
        assert page.status_code == 200
        assert "This record has no conflict" in page.get_data(as_text=True)
        shown = browser.get(f"/actions/{world['action']}").get_data(as_text=True)
        assert "Repair the school road before the winter" in shown
        assert "Sinjar municipality" in shown


def test_a_laptop_that_kept_editing_its_old_version_conflicts_again(world, tmp_path):
    """A later edit on a laptop that never saw the resolution is a new conflict, not lost."""
    laptop = clone(world["a"], tmp_path / "a")
    edit(laptop, world["action"], records.Actor(None, "amira", "Amira Hassan"), status="done")
    later = laptop.export(tmp_path)
    national = clone(world["national"], tmp_path / "national")
    national.merge(world["files"]["R"], later)
    _rev, conflicts_left, _body, _deleted = head_of(national, world["action"])
    assert conflicts_left == 1
    with national.session():
        [listed], _next = conflicts.list_conflicts()
        assert listed.record_id == world["action"]
        assert listed.versions == 2


# ---- two offices review the same contribution differently -------------------------------------


def test_two_offices_reviewing_one_answer_give_one_winner_and_a_listed_conflict(tmp_path):
    """Erbil approves, Mosul excludes as a duplicate: one record id, the same winner in every
    order, a listed conflict at the national office, resolved there through the page."""
    w = new_world(tmp_path)
    files = tmp_path / "files"
    files.mkdir()
    laptop_file = w["a"].export(files)
    review_id = schema.contribution_record_id("review", w["submission"], w["question"])
    answer = {
        "submission": w["submission"],
        "question": w["question"],
        "consultation": w["consultation"],
    }
    carried = {"laptop": laptop_file}
    for name, office, review, actor in (
        ("erbil", w["region"], {"state": "approved"}, ANALYST),
        (
            "mosul",
            w["mosul"],
            {"state": "excluded", "reason": "duplicate", "note": "Same as the kiosk answer"},
            records.Actor(None, "omar", "Omar Saleh"),
        ),
    ):
        assert office.merge(laptop_file)[0].ok
        with office.session(), records.acting_as(actor):
            made, _rev = records.create("review", {**answer, **review}, record_id=review_id)
            assert made == review_id
        carried[name] = office.export(files)
    outcomes = set()
    for index, order in enumerate(itertools.permutations(carried)):
        national = clone(w["national"], tmp_path / f"national-{index}")
        assert all(s.ok for s in national.merge(*(carried[n] for n in order)))
        rev, conflicts_left, _body, _deleted = head_of(national, review_id)
        outcomes.add((rev, conflicts_left, national.stats()["digest"]))
    assert len(outcomes) == 1
    assert outcomes.pop()[1] == 1
    with site(national.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        browser = browser_for(app, "zainab", Role.ANALYST, "Zainab Kareem")
        listing = browser.get("/conflicts?kind=review").get_data(as_text=True)
        assert f"/conflicts/{review_id}" in listing
        assert "Review state" in listing
        assert "مدرسة للبنات" in listing
        assert "ما هي أولوياتكم؟" in listing  # the question, in its own language (marked)
        assert f"/conflicts/{review_id}" not in browser.get("/conflicts?kind=coding").get_data(
            as_text=True
        )
        page = browser.get(f"/conflicts/{review_id}").get_data(as_text=True)
        assert "Erbil regional office" in page
        assert "Mosul regional office" in page
        assert "Approved" in page
        assert "Excluded" in page
        assert "Duplicate" in page
        revs = base_revs(page)
        # Excluded without a reason is refused with a message, nothing saved.
        refused = browser.post(
            f"/conflicts/{review_id}/combine", data={"state": "excluded", "base_revs": revs}
        )
        assert refused.status_code == 400
        assert "Say why the contribution is excluded." in refused.get_data(as_text=True)
        assert head_of(national, review_id)[1] == 1
        saved = browser.post(
            f"/conflicts/{review_id}/combine",
            data={
                "state": "has_issues",
                "reason": "",
                "note": "Check with Mosul",
                "base_revs": revs,
            },
        )
        assert saved.status_code == 302
    _rev, conflicts_left, body, _deleted = head_of(national, review_id)
    assert conflicts_left == 0
    assert body["state"] == "has_issues"
    assert "reason" not in body
    assert body["note"] == "Check with Mosul"
    assert body["account"]["username"] == "zainab"


def contribution_state(installation: Installation, submission: str, question: str) -> str:
    """The review state the Contributions read model holds for one answer."""
    from fieldapp.models.review import Contribution

    with installation.session():
        [row] = (
            db.session.query(Contribution)
            .filter_by(submission_uuid=submission, question_id=question)
            .all()
        )
        return row.state


def test_a_resolved_review_reaches_the_contributions_list(tmp_path):
    """The resolution of a review conflict is the state the Contributions list filters on,
    at the office that resolved it and at the one that merged its file."""
    w = new_world(tmp_path)
    w["region"].register(w["mosul"])  # Mosul's file goes to Erbil too
    w["mosul"].register(w["region"])
    laptop_file = w["a"].export(tmp_path)
    review_id = schema.contribution_record_id("review", w["submission"], w["question"])
    answer = {
        "submission": w["submission"],
        "question": w["question"],
        "consultation": w["consultation"],
    }
    carried = [laptop_file]
    for office, state in ((w["region"], "approved"), (w["mosul"], "has_issues")):
        office.merge(laptop_file)
        with office.session(), records.acting_as(ANALYST):
            records.create("review", {**answer, "state": state}, record_id=review_id)
        carried.append(office.export(tmp_path))
    [merged] = w["region"].merge(carried[2])
    assert merged.ok, merged.error
    with w["region"].session(), records.acting_as(ANALYST):
        view = conflicts.versions_of(review_id)
        excluded = {**answer, "state": "excluded", "reason": "test_entry"}
        conflicts.resolve(review_id, view.base_revs, body=excluded)
    assert contribution_state(w["region"], w["submission"], w["question"]) == "excluded"
    national = clone(w["national"], tmp_path / "nation")
    merged = national.merge(*carried, w["region"].export(tmp_path))
    assert all(m.ok for m in merged), [m.error for m in merged]
    assert head_of(national, review_id)[1] == 0
    assert contribution_state(national, w["submission"], w["question"]) == "excluded"


def test_two_offices_that_resolve_differently_leave_one_listed_conflict(tmp_path):
    """Erbil combined the versions; Mosul kept Sinjar's. The nation sees the two resolutions
    as one new conflict (nobody's decision is dropped), resolves it, and that wins."""
    w = new_world(tmp_path)
    edit(w["a"], w["action"], ANALYST, priority="low")
    edit(w["b"], w["action"], ANALYST, priority="medium")
    laptop_files = [w["a"].export(tmp_path), w["b"].export(tmp_path)]
    carried = list(laptop_files)
    for office, choice in ((w["region"], 0), (w["mosul"], 1)):
        office.merge(*laptop_files)
        with office.session(), records.acting_as(ANALYST):
            view = conflicts.versions_of(w["action"])
            conflicts.resolve(w["action"], view.base_revs, keep=view.versions[choice].rev)
        carried.append(office.export(tmp_path))
    national = clone(w["national"], tmp_path / "nation")
    assert all(m.ok for m in national.merge(*carried))
    assert head_of(national, w["action"])[1] == 1
    with national.session(), records.acting_as(ANALYST):
        view = conflicts.versions_of(w["action"])
        assert {v.installation for v in view.versions} == {
            "Erbil regional office",
            "Mosul regional office",
        }
        conflicts.resolve(w["action"], view.base_revs, keep=view.versions[1].rev)
    _rev, conflicts_left, body, _deleted = head_of(national, w["action"])
    assert conflicts_left == 0
    assert body["priority"] == view.versions[1].body["priority"]


def test_two_offices_that_resolve_alike_make_the_same_resolution(tmp_path):
    """Both offices kept the same version: the same rev, so no new conflict anywhere."""
    w = new_world(tmp_path)
    edit(w["a"], w["action"], ANALYST, priority="low")
    edit(w["b"], w["action"], ANALYST, priority="medium")
    laptop_files = [w["a"].export(tmp_path), w["b"].export(tmp_path)]
    carried, revs = list(laptop_files), set()
    for office, actor in ((w["region"], ANALYST), (w["mosul"], records.Actor(None, "omar", ""))):
        office.merge(*laptop_files)
        with office.session(), records.acting_as(actor):
            view = conflicts.versions_of(w["action"])
            loser = next(v for v in view.versions if v.body["priority"] == "low")
            revs.add(conflicts.resolve(w["action"], view.base_revs, keep=loser.rev))
        carried.append(office.export(tmp_path))
    assert len(revs) == 1
    national = clone(w["national"], tmp_path / "nation")
    assert all(m.ok for m in national.merge(*carried))
    rev, conflicts_left, body, _deleted = head_of(national, w["action"])
    assert (rev, conflicts_left, body["priority"]) == (revs.pop(), 0, "low")


def test_two_offices_coding_one_answer_differently_combine_both_codes(tmp_path):
    """Erbil codes an answer "Schools", Mosul "Roads": the nation sees both names side by side
    and saves a combination with both codes."""
    w = new_world(tmp_path)
    laptop_file = w["a"].export(tmp_path)
    coding_id = schema.contribution_record_id("coding", w["submission"], w["question"])
    answer = {
        "submission": w["submission"],
        "question": w["question"],
        "consultation": w["consultation"],
    }
    w["region"].merge(laptop_file)
    with w["region"].session(), records.acting_as(ANALYST):
        schools, _ = records.create(
            "code",
            {
                "name": {"en": "Schools"},
                "original_language": "en",
                "colour": "#1f77b4",
                "status": "active",
            },
        )
        roads, _ = records.create(
            "code",
            {
                "name": {"ar": "الطرق", "en": "Roads"},
                "original_language": "ar",
                "colour": "#ff7f0e",
                "status": "active",
            },
        )
    w["mosul"].merge(laptop_file)
    for code in (schools, roads):
        copy_record(w["region"], w["mosul"], code)
    carried = [laptop_file]
    for office, code in ((w["region"], schools), (w["mosul"], roads)):
        with office.session(), records.acting_as(ANALYST):
            records.create("coding", {**answer, "codes": [code]}, record_id=coding_id)
        carried.append(office.export(tmp_path))
    national = clone(w["national"], tmp_path / "nation")
    assert all(m.ok for m in national.merge(*carried))
    assert head_of(national, coding_id)[1] == 1
    with site(national.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        browser = browser_for(app, "zainab", Role.ANALYST)
        assert f"/conflicts/{coding_id}" in browser.get("/conflicts?kind=coding").get_data(
            as_text=True
        )
        page = browser.get(f"/conflicts/{coding_id}").get_data(as_text=True)
        assert "Schools" in page
        assert "Roads" in page
        assert schools not in page.split("<tbody>")[1].split("</tbody>")[0]  # names, not ids
        forged = browser.post(
            f"/conflicts/{coding_id}/combine",
            data={
                "codes": [schools, "0b5e4b9e-3a51-4c1e-9a8e-6d2f7c1a0e11"],
                "base_revs": base_revs(page),
            },
        )
        assert forged.status_code == 400  # a code no version applied is not offered
        assert head_of(national, coding_id)[1] == 1
        saved = browser.post(
            f"/conflicts/{coding_id}/combine",
            data={"codes": [schools, roads], "note": "Both apply", "base_revs": base_revs(page)},
        )
        assert saved.status_code == 302
    _rev, conflicts_left, body, _deleted = head_of(national, coding_id)
    assert conflicts_left == 0
    assert sorted(body["codes"]) == sorted([schools, roads])
    assert body["note"] == "Both apply"


# ---- an edit and a deletion made at the same time ---------------------------------------------


def test_an_edit_made_while_another_laptop_deleted_wins_everywhere(tmp_path):
    """Laptop A deletes an action point while laptop B updates it: in every order the update
    is kept (nothing written is lost without someone deciding), and as the revisions policy
    says, the deletion is not a live version, so there is nothing to resolve."""
    w = new_world(tmp_path)
    second = w["second"]
    with w["a"].session():
        records.delete(second, records.current(second).winner_rev)
    edit(w["b"], second, records.Actor(None, "karwan", "Karwan Ali"), status="done")
    carried = [w["a"].export(tmp_path), w["b"].export(tmp_path)]
    outcomes = set()
    for index, order in enumerate(itertools.permutations(carried)):
        national = clone(w["national"], tmp_path / f"national-{index}")
        national.merge(*order)
        rev, conflicts_left, body, deleted = head_of(national, second)
        assert not deleted
        assert body["status"] == "done"
        assert conflicts_left == 0
        outcomes.add(rev)
        with national.session():
            assert conflicts.list_conflicts() == ([], None)
            with pytest.raises(conflicts.NoConflict):
                conflicts.versions_of(second)
            with pytest.raises(conflicts.NoConflict):
                conflicts.resolve(second, [rev], keep=rev)
    assert len(outcomes) == 1


def test_a_conflict_of_two_edits_can_be_resolved_while_a_deletion_is_also_there(tmp_path):
    """Two live edits and a deletion of the same version: the two edits are compared, the
    deletion is not offered, and the resolution wins over all three."""
    w = new_world(tmp_path)
    action = w["action"]
    c = clone(w["b"], tmp_path / "c")  # a third laptop restored from B's backup
    edit(w["a"], action, ANALYST, priority="low")
    edit(w["b"], action, ANALYST, priority="medium")
    with c.session():
        records.delete(action, records.current(action).winner_rev)
    national = clone(w["national"], tmp_path / "nation")
    merged = national.merge(w["a"].export(tmp_path), w["b"].export(tmp_path), c.export(tmp_path))
    assert all(s.ok for s in merged), [s.error for s in merged]
    with national.session(), records.acting_as(ANALYST):
        view = conflicts.versions_of(action)
        assert len(view.versions) == 2
        assert view.differs("priority")
        assert not view.differs("text")
        loser = view.versions[1]
        conflicts.resolve(action, view.base_revs, keep=loser.rev)
    _rev, conflicts_left, body, deleted = head_of(national, action)
    assert conflicts_left == 0
    assert not deleted
    assert body["priority"] == loser.body["priority"]


# ---- the same on PostgreSQL ------------------------------------------------------------------


def pg_national(world: dict, folder: Path, url: str) -> Installation:
    """The world's national office (same keys, same registered devices) on PostgreSQL."""
    import shutil

    from fieldapp.database import writing
    from fieldapp.models import Device

    from .sync_world import opened

    folder.mkdir(parents=True)
    (folder / "config.py").write_text(f"SQLALCHEMY_DATABASE_URI = {url!r}\n", encoding="utf-8")
    shutil.copytree(world["national"].folder / "keys", folder / "keys")
    with opened(world["national"].folder):
        devices = [
            {c.name: getattr(d, c.name) for c in Device.__table__.columns if c.name != "id"}
            for d in db.session.query(Device)
        ]
    national = object.__new__(Installation)
    national.folder, national.config = folder, {"PASSWORD_HASH_METHOD": FAST}
    national.public = world["national"].public
    app = make_app(folder, PASSWORD_HASH_METHOD=FAST)
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        with writing() as session:
            for device in devices:
                session.add(Device(**device))
        db.session.remove()
        db.engine.dispose()
    return national


@pg_skip
@pytest.mark.postgres
def test_the_resolution_wins_in_every_order_on_postgresql(world, pg_urls, tmp_path):  # noqa: F811
    """The national office on PostgreSQL: every order shows the region's resolution."""
    sqlite_digest = None
    for index, order in enumerate(itertools.permutations(["A", "B", "R"])):
        national = pg_national(world, tmp_path / f"pg-{index}", pg_urls())
        summaries = national.merge(*(world["files"][name] for name in order))
        assert all(s.ok for s in summaries), [s.error for s in summaries]
        assert head_of(national, world["action"]) == world["resolved"]
        with national.session():
            assert db.engine.dialect.name == "postgresql"
            assert conflicts.list_conflicts() == ([], None)
            assert conflicts.count_conflicts() == 0
        if sqlite_digest is None:
            reference = clone(world["national"], tmp_path / "sqlite")
            reference.merge(*(world["files"][name] for name in order))
            sqlite_digest = digest(reference)
        assert digest(national) == sqlite_digest


# ---- refusals: stale, unknown, already resolved, wrong role, bad filter -----------------------


@pytest.fixture
def conflicted(tmp_path):
    """A regional office holding both laptops' edits of one action point (a conflict)."""
    w = new_world(tmp_path)
    edit(w["a"], w["action"], ANALYST, priority="low")
    edit(w["b"], w["action"], ANALYST, priority="medium")
    w["region"].merge(w["a"].export(tmp_path), w["b"].export(tmp_path))
    assert head_of(w["region"], w["action"])[1] == 1
    with site(w["region"].folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        w["app"] = app
        yield w


def digest(installation: Installation) -> str:
    return installation.stats()["digest"]


def test_a_stale_comparison_is_refused_and_changes_nothing(conflicted, tmp_path):
    """A merge brought a third version after the page was opened: keep and combine are both
    refused with a clear message, the new version is shown, the person's input is kept."""
    w = conflicted
    browser = browser_for(w["app"], "hana", Role.ANALYST)
    page = browser.get(f"/conflicts/{w['action']}").get_data(as_text=True)
    compared, [first, _second] = base_revs(page), hidden(page, "keep")
    edit(w["a"], w["action"], ANALYST, responsible="Bashiqa municipality")
    w["region"].merge(w["a"].export(tmp_path / "later"))
    before = digest(w["region"])
    kept = browser.post(
        f"/conflicts/{w['action']}/keep", data={"base_revs": compared, "keep": first}
    )
    assert kept.status_code == 409
    text = kept.get_data(as_text=True)
    assert "The versions of this record changed since you opened this page" in text
    assert "Bashiqa municipality" in text  # the version that arrived is shown
    assert base_revs(text) != compared
    combined = browser.post(
        f"/conflicts/{w['action']}/combine",
        data={**RESOLVED, "responsible": "My careful merge", "base_revs": compared},
    )
    assert combined.status_code == 409
    assert 'value="My careful merge"' in combined.get_data(as_text=True)
    assert digest(w["region"]) == before
    assert head_of(w["region"], w["action"])[1] == 1


def test_a_forged_version_to_keep_is_refused(conflicted):
    """Keeping a rev that is not one of the live versions changes nothing."""
    w = conflicted
    browser = browser_for(w["app"], "hana", Role.ANALYST)
    page = browser.get(f"/conflicts/{w['action']}").get_data(as_text=True)
    before = digest(w["region"])
    forged = "9-" + "0" * 64
    response = browser.post(
        f"/conflicts/{w['action']}/keep", data={"base_revs": base_revs(page), "keep": forged}
    )
    assert response.status_code == 409
    assert digest(w["region"]) == before


def test_a_conflict_resolved_meanwhile_is_not_resolved_twice(conflicted):
    """A colleague resolved it first: the second resolution is refused, the first stays."""
    w = conflicted
    browser = browser_for(w["app"], "hana", Role.ANALYST)
    page = browser.get(f"/conflicts/{w['action']}").get_data(as_text=True)
    compared, [first, second] = base_revs(page), hidden(page, "keep")
    colleague = browser_for(w["app"], "omar", Role.COORDINATOR)
    assert (
        colleague.post(
            f"/conflicts/{w['action']}/keep", data={"base_revs": compared, "keep": first}
        ).status_code
        == 302
    )
    before = digest(w["region"])
    again = browser.post(
        f"/conflicts/{w['action']}/keep", data={"base_revs": compared, "keep": second}
    )
    assert again.status_code == 409
    assert "This record has no conflict" in again.get_data(as_text=True)
    assert digest(w["region"]) == before


def test_an_unknown_record_gets_a_clear_message_and_nothing_changes(conflicted):
    """An id this installation does not hold: 404 with a message, on the page and the forms."""
    w = conflicted
    browser = browser_for(w["app"], "hana", Role.ANALYST)
    before = digest(w["region"])
    unknown = "0b5e4b9e-3a51-4c1e-9a8e-6d2f7c1a0e11"
    for url in (f"/conflicts/{unknown}", "/conflicts/not-an-id"):
        page = browser.get(url)
        assert page.status_code == 404
        assert "There is no record with this id on this installation." in page.get_data(
            as_text=True
        )
    for action in ("keep", "combine"):
        response = browser.post(
            f"/conflicts/{unknown}/{action}", data={"base_revs": "", "keep": "1-" + "a" * 64}
        )
        assert response.status_code == 404
        assert "There is no record with this id" in response.get_data(as_text=True)
    assert digest(w["region"]) == before


def test_a_record_without_conflict_cannot_be_resolved(conflicted):
    """The consultation has one version: no page to compare, no resolution saved."""
    w = conflicted
    browser = browser_for(w["app"], "hana", Role.ANALYST)
    rev = head_of(w["region"], w["consultation"])[0]
    before = digest(w["region"])
    assert "This record has no conflict" in browser.get(f"/conflicts/{w['consultation']}").get_data(
        as_text=True
    )
    response = browser.post(
        f"/conflicts/{w['consultation']}/keep", data={"base_revs": rev, "keep": rev}
    )
    assert response.status_code == 409  # refused: the "nothing to resolve" page and message
    assert "This record has no conflict" in response.get_data(as_text=True)
    assert digest(w["region"]) == before


@pytest.mark.parametrize("role", [Role.FACILITATOR, Role.VIEWER])
def test_facilitators_and_viewers_may_not_see_or_resolve_conflicts(conflicted, role):
    """Only analysts and coordinators: every conflicts page is 403 for the others."""
    w = conflicted
    browser = browser_for(w["app"], "someone", role)
    owner = browser_for(w["app"], "hana", Role.ANALYST)
    page = owner.get(f"/conflicts/{w['action']}").get_data(as_text=True)
    compared, [first, _second] = base_revs(page), hidden(page, "keep")
    before = digest(w["region"])
    assert browser.get("/conflicts").status_code == 403
    assert browser.get(f"/conflicts/{w['action']}").status_code == 403
    assert (
        browser.post(
            f"/conflicts/{w['action']}/keep", data={"base_revs": compared, "keep": first}
        ).status_code
        == 403
    )
    assert (
        browser.post(
            f"/conflicts/{w['action']}/combine", data={**RESOLVED, "base_revs": compared}
        ).status_code
        == 403
    )
    assert digest(w["region"]) == before
    assert "/conflicts" not in browser.get("/").get_data(as_text=True)


def test_an_unknown_kind_filter_is_named_and_the_list_still_shows(conflicted):
    """?kind=nonsense: a message, status 400, and every conflict listed unfiltered."""
    browser = browser_for(conflicted["app"], "hana", Role.ANALYST)
    response = browser.get("/conflicts?kind=nonsense")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is no such kind of record." in page
    assert f"/conflicts/{conflicted['action']}" in page


def test_the_list_is_paged_by_record_id(conflicted, tmp_path):
    """Keyset paging: each page starts after the last id of the one before, none repeats."""
    w = conflicted
    with w["region"].session():
        first, cursor = conflicts.list_conflicts(limit=1)
        assert [c.record_id for c in first] == [w["action"]]
        assert cursor is None
        assert conflicts.list_conflicts(after=w["action"]) == ([], None)
        assert conflicts.list_conflicts(kind="action_point")[0] == first
        assert conflicts.list_conflicts(kind="review") == ([], None)
        with pytest.raises(conflicts.ConflictError):
            conflicts.list_conflicts(kind="nonsense")


def test_the_keep_form_needs_its_csrf_token(tmp_path, conflicted):
    """With CSRF protection on, as in production, a forged post changes nothing."""
    w = conflicted
    before = digest(w["region"])
    with site(w["region"].folder, PASSWORD_HASH_METHOD=FAST) as app:
        browser = app.test_client()
        add_user(app, "hana", Role.ANALYST)
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', browser.get("/login").get_data(as_text=True)
        )
        browser.post(
            "/login",
            data={
                "username": "hana",
                "password": "olive grove at dawn",
                "csrf_token": token.group(1),
            },
        )
        page = browser.get(f"/conflicts/{w['action']}").get_data(as_text=True)
        compared, [first, _second] = base_revs(page), hidden(page, "keep")
        response = browser.post(
            f"/conflicts/{w['action']}/keep", data={"base_revs": compared, "keep": first}
        )
        assert response.status_code == 400
    assert digest(w["region"]) == before


def test_the_pages_also_work_on_a_field_laptop(tmp_path):
    """A laptop's coordinator can compare and resolve; its facilitator sees nothing here."""
    from fieldapp.database import writing
    from fieldapp.services.sync.revisions import Version, next_version

    w = new_world(tmp_path)
    laptop, action = w["a"], w["action"]
    with laptop.session(), records.acting_as(ANALYST):
        head = records.current(action)
        winner = Version(head.winner_rev, None, json.loads(head.body))
        body = editable_body(head)
        stamp = {k: json.loads(head.body)[k] for k in ("updated_at", "updated_by")}
        with writing():  # two edits of the same version, as a restored backup would make
            records.store_versions(
                "action_point",
                action,
                [
                    next_version(winner, {**body, **stamp, "priority": "low"}),
                    next_version(winner, {**body, **stamp, "priority": "medium"}),
                ],
            )
    assert head_of(laptop, action)[1] == 1
    with site(laptop.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        facilitator = browser_for(app, "sara", Role.FACILITATOR)
        assert facilitator.get("/conflicts").status_code == 403
        coordinator = browser_for(app, "amira", Role.COORDINATOR)
        page = coordinator.get(f"/conflicts/{action}").get_data(as_text=True)
        [first, _second] = hidden(page, "keep")
        kept = coordinator.post(
            f"/conflicts/{action}/keep", data={"base_revs": base_revs(page), "keep": first}
        )
        assert kept.status_code == 302
    assert head_of(laptop, action)[1] == 0


# ---- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_conflict_pages_read_right_to_left(conflicted, lang):
    """Arabic and Sorani: dir="rtl", the page's words translated."""
    browser = browser_for(conflicted["app"], "hana", Role.ANALYST)
    set_language(browser, lang)
    for url in ("/conflicts", f"/conflicts/{conflicted['action']}"):
        page = browser.get(url).get_data(as_text=True)
        assert f'<html lang="{lang}-IQ" dir="rtl">' in page
        assert translated(lang, "Conflicts") in page
    page = browser.get(f"/conflicts/{conflicted['action']}").get_data(as_text=True)
    assert translated(lang, "Keep this version") in page
    assert translated(lang, "differs") in page
    assert translated(lang, "Edit a combination") in page
