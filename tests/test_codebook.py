"""The shared codebook: themes and sub-themes, merges and retirements, its signed file."""

from __future__ import annotations

import io
import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from fieldapp.cli import cli
from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import (
    AuditEvent,
    Contribution,
    ContributionCode,
    DeviceRole,
    RecordVersion,
    Role,
)
from fieldapp.services import codebook, demo, records, workspace
from fieldapp.services.sync import keys, schema
from fieldapp.services.sync.revisions import next_version

from .conftest import (
    FAST_HASH,
    PASSWORD,
    add_user,
    csrf_token,
    login,
    set_language,
    translated,
)
from .sync_world import Installation, site
from .test_postgres import _reason as pg_unavailable
from .test_postgres import pg_urls  # noqa: F401 -- a fixture, used by name below

CONFIG = {"WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": FAST_HASH}


@pytest.fixture
def world(tmp_path):
    """A head office and a field laptop that has the head office registered."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office", **CONFIG)
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,), **CONFIG)
    return ho, laptop


@pytest.fixture
def office(world):
    """The head office's app with one account of each role (no app context held open)."""
    ho, _laptop = world
    with site(ho.folder, **CONFIG) as app:
        add_user(app, "amira", Role.COORDINATOR, display_name="Amira")
        add_user(app, "dilan", Role.ANALYST, display_name="Dilan")
        add_user(app, "faris", Role.FACILITATOR)
        add_user(app, "vera", Role.VIEWER)
        yield app


def browser(app, username="amira"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def code_versions(app) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(RecordVersion).where(RecordVersion.kind == "code")
        ).scalar_one()


def add(app, name, colour="#0072b2", parent=None, **more):
    with app.app_context():
        return codebook.add_code({"en": name, **more}, "en", colour, parent=parent)


def get(app, code_id):
    with app.app_context():
        return codebook.get(code_id)


CODE_FORM = {
    "name_en": "Security",
    "name_ar": "الأمن",
    "name_ckb": "ئاسایش",
    "description_en": "Feeling safe: police, checkpoints, mines.",
    "original_language": "en",
    "palette": "#0072b2",
    "colour": "#0072b2",
}


# ---- adding and editing ---------------------------------------------------------------------


def test_an_analyst_adds_a_theme_and_a_subtheme_on_the_web(office):
    """Two levels; names in the reader's language; missing translations are listed."""
    client = browser(office, "dilan")
    response = client.post("/codebook/new", data=CODE_FORM)
    assert response.status_code == 302
    with office.app_context():
        [theme] = codebook.all_codes()
    response = client.post(
        f"/codebook/new?parent={theme.id}",
        data={
            **CODE_FORM,
            "name_en": "Checkpoints",
            "name_ar": "",
            "name_ckb": "",
            "palette": "other",
            "colour": "#AA3377",
        },
    )
    assert response.status_code == 302
    with office.app_context():
        codes = codebook.all_codes()
    assert [c.name["en"] for c in codes] == ["Security", "Checkpoints"]
    sub = codes[1]
    assert sub.parent == theme.id
    assert sub.colour == "#aa3377"  # stored in lower case
    assert theme.name == {"en": "Security", "ar": "الأمن", "ckb": "ئاسایش"}
    assert theme.description == {"en": "Feeling safe: police, checkpoints, mines."}
    page = client.get("/codebook").get_data(as_text=True)
    assert 'fill="#aa3377"' in page
    assert page.index("Security") < page.index("Checkpoints")
    assert "Missing translations:" in page
    set_language(client, "ar")
    page = client.get("/codebook").get_data(as_text=True)
    assert "الأمن" in page
    assert "(in English)" not in page  # the Arabic name is shown, no fallback mark
    assert 'lang="en" dir="auto">Checkpoints</span>' in page  # no Arabic name: falls back


def test_the_code_form_offers_a_colour_input_and_a_colour_blind_safe_palette(office):
    page = browser(office).get("/codebook/new").get_data(as_text=True)
    assert 'type="color"' in page
    for colour, _name in codebook.PALETTE:
        assert f'value="{colour}"' in page
    assert "style=" not in page.split("<main", 1)[1]  # no inline styles (CSP)
    add(office, "Security", colour="#e69f00")
    page = browser(office).get("/codebook/new").get_data(as_text=True)
    [checked] = re.findall(r'<input checked[^>]*value="(#[0-9a-f]{6})"', page)
    assert checked == "#56b4e9"  # the first palette colour no active code has yet


def test_rename_in_four_languages_and_change_the_colour(office):
    theme = add(office, "Services")
    client = browser(office, "dilan")
    response = client.post(
        f"/codebook/{theme}",
        data={
            **CODE_FORM,
            "name_en": "Public services",
            "name_ar": "الخدمات العامة",
            "name_ckb": "خزمەتگوزارییە گشتییەکان",
            "name_ku": "Xizmetên giştî",
            "palette": "#009e73",
            "base_rev": get(office, theme).rev,
        },
    )
    assert response.status_code == 302
    code = get(office, theme)
    assert code.name["ku"] == "Xizmetên giştî"
    assert code.colour == "#009e73"
    assert code.missing() == []
    page = client.get("/codebook").get_data(as_text=True)
    assert f'id="code-{theme}"' in page
    assert "Missing translations:" not in page


def test_a_stale_edit_is_refused_and_shows_what_changed(office):
    theme = add(office, "Services")
    base = get(office, theme).rev
    client = browser(office)
    first = client.post(
        f"/codebook/{theme}", data={**CODE_FORM, "name_en": "Water", "base_rev": base}
    )
    assert first.status_code == 302
    second = client.post(
        f"/codebook/{theme}", data={**CODE_FORM, "name_en": "Electricity", "base_rev": base}
    )
    page = second.get_data(as_text=True)
    assert second.status_code == 200
    assert (
        translated(
            "en", "Someone else changed this record since you opened it. Check the changes below."
        )
        in page
    )
    assert "Water" in page  # saved now
    assert "Electricity" in page  # still in the form
    assert get(office, theme).name == {"en": "Water", "ar": "الأمن", "ckb": "ئاسایش"}


def test_a_bad_colour_is_refused_and_nothing_saved(office):
    with office.app_context():
        for colour in ("red", "#12345", "#gggggg", "#0072b2ff", ""):
            with pytest.raises(codebook.CodebookError):
                codebook.add_code({"en": "Security"}, "en", colour)
    assert code_versions(office) == 0
    client = browser(office)
    set_language(client, "ar")
    page = client.post(
        "/codebook/new", data={**CODE_FORM, "palette": "other", "colour": "#12345"}
    ).get_data(as_text=True)
    assert code_versions(office) == 0
    assert 'dir="rtl"' in page
    assert (
        translated("ar", "A colour is written as # and six hexadecimal digits, e.g. #0072b2.")
        in page
    )


def test_two_levels_only(office):
    """A sub-theme cannot have sub-themes; its theme must exist and be live."""
    theme = add(office, "Security")
    sub = add(office, "Checkpoints", parent=theme)
    before = code_versions(office)
    with office.app_context():
        with pytest.raises(codebook.CodebookError) as refused:
            codebook.add_code({"en": "Night checkpoints"}, "en", "#000000", parent=sub)
        assert "two levels" in str(refused.value.message)
        with pytest.raises(codebook.CodebookError):
            codebook.add_code({"en": "x"}, "en", "#000000", parent=str(theme[::-1]))
        codebook.retire(sub, codebook.get(sub).rev)
        codebook.retire(theme, codebook.get(theme).rev)
        with pytest.raises(codebook.CodebookError):
            codebook.add_code({"en": "x"}, "en", "#000000", parent=theme)
    assert code_versions(office) == before + 2  # the two retirements only
    client = browser(office)
    response = client.post(f"/codebook/new?parent={sub}", data=CODE_FORM)
    assert response.status_code == 200
    assert translated(
        "en", "A sub-theme cannot have sub-themes: the codebook has two levels only."
    ) in response.get_data(as_text=True)
    assert client.get("/codebook/new?parent=nonsense").status_code == 404


# ---- retiring and restoring -----------------------------------------------------------------


def test_retire_and_restore_on_the_web(office):
    theme = add(office, "Security")
    sub = add(office, "Checkpoints", parent=theme)
    client = browser(office, "dilan")
    response = client.post(f"/codebook/{theme}/retire", data={"base_rev": get(office, theme).rev})
    assert response.status_code == 302
    assert get(office, theme).status == "active"  # refused: it has an active sub-theme
    page = client.get("/codebook").get_data(as_text=True)
    assert "active sub-themes" in page
    client.post(f"/codebook/{sub}/retire", data={"base_rev": get(office, sub).rev})
    client.post(f"/codebook/{theme}/retire", data={"base_rev": get(office, theme).rev})
    with office.app_context():
        assert codebook.active_codes() == []
        assert [c.id for c in codebook.all_codes()] == [theme, sub]  # kept for history
    page = client.get("/codebook").get_data(as_text=True)
    assert "Retired" in page
    # A sub-theme is not restored before its theme.
    client.post(f"/codebook/{sub}/restore", data={"base_rev": get(office, sub).rev})
    assert get(office, sub).status == "retired"
    client.post(f"/codebook/{theme}/restore", data={"base_rev": get(office, theme).rev})
    client.post(f"/codebook/{sub}/restore", data={"base_rev": get(office, sub).rev})
    with office.app_context():
        assert [c.id for c in codebook.active_codes()] == [theme, sub]
    # A stale button (an old rev) changes nothing.
    old = get(office, sub).rev
    client.post(f"/codebook/{sub}/retire", data={"base_rev": old})
    page = client.post(
        f"/codebook/{sub}/restore", data={"base_rev": old}, follow_redirects=True
    ).get_data(as_text=True)
    assert get(office, sub).status == "retired"
    assert (
        translated(
            "en",
            "This code was changed since you opened the page. Check it as it is now, "
            "then try again.",
        )
        in page
    )


# ---- merging --------------------------------------------------------------------------------


def a_typed_answer(app):
    """A typed contribution: (submission, question, consultation, read-model key)."""
    with app.app_context():
        demo.fill(consultations=1, submissions=3, seed=3)
        [consultation] = workspace.list_consultations()
        [question] = [
            q for q in workspace.questions_of(consultation.id) if q.body["type"] == "free_text"
        ]
        submission = records.add_submission(
            consultation.id, {question.id: "الماء مقطوع منذ أسبوع"}, "ar", "paper", "form-1"
        )
        row = db.session.execute(
            select(Contribution).where(Contribution.submission_uuid == submission)
        ).scalar_one()
        return submission, question.id, consultation.id, row.key


def code_answer(app, answer, codes):
    submission, question, consultation, _key = answer
    record_id = schema.contribution_record_id("coding", submission, question)
    body = {
        "submission": submission,
        "question": question,
        "consultation": consultation,
        "codes": codes,
    }
    with app.app_context():
        head = records.current(record_id)
        if head is None:
            records.create("coding", body, record_id=record_id)
        else:
            records.update(record_id, body, head.winner_rev)


def codes_on(app, key):
    with app.app_context():
        row = db.session.get(Contribution, key)
        links = db.session.execute(
            select(ContributionCode.code_id).where(ContributionCode.contribution_key == key)
        ).scalars()
        return row.codes, sorted(links)


def test_a_merged_codes_codings_count_for_the_surviving_code(office):
    """Nothing is rewritten: the coding keeps the old id and counts for the target, also a
    coding made later with the old id (a laptop that had not imported the codebook yet)."""
    answer = a_typed_answer(office)
    key = answer[3]
    checkpoints = add(office, "Checkpoints")
    security = add(office, "Security")
    code_answer(office, answer, [checkpoints])
    assert codes_on(office, key) == (checkpoints, [checkpoints])
    client = browser(office, "dilan")
    confirm = client.get(f"/codebook/{checkpoints}/merge?into={security}")
    page = confirm.get_data(as_text=True)
    assert "1 coded contribution will count for the code you chose." in page
    response = client.post(
        f"/codebook/{checkpoints}/merge",
        data={"into": security, "base_rev": get(office, checkpoints).rev},
    )
    assert response.status_code == 302
    merged = get(office, checkpoints)
    assert (merged.merged_into, merged.status) == (security, "retired")
    assert codes_on(office, key) == (security, [security])
    with office.app_context():
        assert codebook.usage() == {security: 1}
        assert [c.id for c in codebook.all_codes()] == [security]  # merged ones hidden
        assert checkpoints in [c.id for c in codebook.all_codes(include_merged=True)]
        coding = records.current(schema.contribution_record_id("coding", answer[0], answer[1]))
        assert json.loads(coding.body)["codes"] == [checkpoints]  # the record is unchanged
    code_answer(office, answer, [checkpoints, security])  # the old id, after the merge
    assert codes_on(office, key) == (security, [security])
    page = client.get("/codebook").get_data(as_text=True)
    assert "Merged into “Security”" in page


def test_merging_a_theme_moves_its_subthemes_under_the_target(office):
    security = add(office, "Security")
    safety = add(office, "Safety")
    sub = add(office, "Checkpoints", parent=safety)
    client = browser(office)
    page = client.get(f"/codebook/{safety}/merge").get_data(as_text=True)
    assert f'value="{sub}"' not in page  # a theme with sub-themes goes into a theme only
    page = client.get(f"/codebook/{safety}/merge?into={security}").get_data(as_text=True)
    assert "1 sub-theme moves under the theme you chose." in page
    client.post(
        f"/codebook/{safety}/merge", data={"into": security, "base_rev": get(office, safety).rev}
    )
    assert get(office, sub).parent == security
    with office.app_context():
        assert [(c.id, c.parent) for c in codebook.all_codes()] == [
            (security, None),
            (sub, security),
        ]


@pytest.mark.parametrize(
    "case",
    [
        "itself",
        "into-merged",
        "into-unknown",
        "theme-into-subtheme",
        "stale",
        "into-retired",
        "unknown-source",
    ],
)
def test_a_refused_merge_says_why_and_changes_nothing(office, case):
    theme = add(office, "Security")
    sub = add(office, "Checkpoints", parent=theme)
    other = add(office, "Services")
    gone = add(office, "Water")
    retired = add(office, "Old")
    with office.app_context():
        codebook.merge(gone, other, codebook.get(gone).rev)
        codebook.retire(retired, codebook.get(retired).rev)
    source, target, base = {
        "itself": (other, other, None),
        "into-merged": (other, gone, None),
        "into-unknown": (other, "0" * 8 + "-0000-4000-8000-" + "0" * 12, None),
        "theme-into-subtheme": (theme, sub, None),
        "stale": (other, theme, "1-" + "0" * 64),
        "into-retired": (other, retired, None),
        "unknown-source": ("0" * 8 + "-0000-4000-8000-" + "0" * 12, theme, "1-" + "0" * 64),
    }[case]
    before = code_versions(office)
    with office.app_context():
        rev = base or codebook.get(source).rev
        expected = records.StaleRecord if case == "stale" else codebook.CodebookError
        with pytest.raises(expected) as refused:
            codebook.merge(source, target, rev)
        message = str(refused.value.message)
        assert message
        if case == "theme-into-subtheme":
            assert "Merge it into a theme" in message
    assert code_versions(office) == before
    if case != "unknown-source":
        client = browser(office)
        set_language(client, "ckb")
        page = client.post(
            f"/codebook/{source}/merge",
            data={"into": target, "base_rev": rev},
            follow_redirects=True,
        ).get_data(as_text=True)
        assert 'dir="rtl"' in page
        assert code_versions(office) == before


# ---- roles ----------------------------------------------------------------------------------


def test_who_may_see_and_change_the_codebook(office):
    theme = add(office, "Security")
    rev = get(office, theme).rev
    facilitator = browser(office, "faris")
    page = facilitator.get("/codebook")
    assert page.status_code == 200
    assert "Security" in page.get_data(as_text=True)
    assert f"/codebook/{theme}/retire" not in page.get_data(as_text=True)
    assert "/codebook/import" in page.get_data(as_text=True)  # a laptop imports the file
    for method, url, data in [
        ("get", "/codebook/new", None),
        ("post", "/codebook/new", CODE_FORM),
        ("get", f"/codebook/{theme}", None),
        ("post", f"/codebook/{theme}", {**CODE_FORM, "base_rev": rev}),
        ("post", f"/codebook/{theme}/retire", {"base_rev": rev}),
        ("post", f"/codebook/{theme}/restore", {"base_rev": rev}),
        ("get", f"/codebook/{theme}/merge", None),
        ("post", f"/codebook/{theme}/merge", {"into": theme, "base_rev": rev}),
        ("get", "/codebook/file", None),
    ]:
        assert getattr(facilitator, method)(url, data=data).status_code == 403, url
    viewer = browser(office, "vera")
    assert viewer.get("/codebook").status_code == 403
    assert viewer.post("/codebook/import", data={}).status_code == 403
    assert viewer.get("/codebook/file").status_code == 403
    assert get(office, theme).rev == rev  # nobody changed anything
    analyst = browser(office, "dilan")
    assert analyst.get("/codebook/file").status_code == 200
    assert analyst.get(f"/codebook/{theme}").status_code == 200


def test_changes_without_the_csrf_token_are_refused(csrf_app, instance):
    """With CSRF protection on (as in production), a forged post changes nothing."""
    with csrf_app.app_context():
        keys.initialise(instance, DeviceRole.HEADOFFICE, "Erbil head office", [])
        theme = codebook.add_code({"en": "Security"}, "en", "#0072b2")
        rev = codebook.get(theme).rev
    add_user(csrf_app, "amira", Role.COORDINATOR)
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post(
        "/login",
        data={"username": "amira", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert client.get("/codebook").status_code == 200
    assert client.post(f"/codebook/{theme}/retire", data={"base_rev": rev}).status_code == 400
    client.post(f"/codebook/{theme}", data={**CODE_FORM, "name_en": "Forged", "base_rev": rev})
    client.post("/codebook/new", data=CODE_FORM)
    with csrf_app.app_context():
        assert [(c.rev, c.status) for c in codebook.all_codes()] == [(rev, "active")]


def test_every_codebook_endpoint_has_its_roles():
    from fieldapp.codebook import ACCESS, bp

    app_rules = {"codebook." + name for name in ("index", "import_file", "new", "edit")}
    assert app_rules <= ACCESS.keys()
    assert bp.name == "codebook"


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_codebook_reads_right_to_left(office, lang):
    theme = add(office, "Security", ar="الأمن", ckb="ئاسایش")
    add(office, "Checkpoints", parent=theme)
    client = browser(office)
    set_language(client, lang)
    for url in ("/codebook", "/codebook/new", f"/codebook/{theme}", f"/codebook/{theme}/merge"):
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert 'dir="rtl"' in page
    page = client.get("/codebook").get_data(as_text=True)
    assert {"ar": "الأمن", "ckb": "ئاسایش"}[lang] in page
    assert translated(lang, "Add a sub-theme") in page


# ---- the signed codebook file ---------------------------------------------------------------


def head_office_codebook(app):
    """A small codebook with a rename, a retirement and a merge in its history."""
    theme = add(app, "Security", ar="الأمن")
    sub = add(app, "Checkpoints", parent=theme)
    old = add(app, "Safety")
    with app.app_context():
        codebook.edit_code(sub, {"name": {"en": "Checkpoints and roads"}}, codebook.get(sub).rev)
        codebook.merge(old, theme, codebook.get(old).rev)
    return theme, sub, old


def test_the_codebook_file_travels_to_a_laptop_with_the_same_ids(world, office, tmp_path):
    ho, laptop = world
    theme, sub, old = head_office_codebook(office)
    download = browser(office).get("/codebook/file")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    data = download.data
    with site(laptop.folder, **CONFIG) as field:
        add_user(field, "faris", Role.FACILITATOR)
        client = browser(field, "faris")
        response = client.post(
            "/codebook/import",
            data={"file": (io.BytesIO(data), "codebook.json")},
            content_type="multipart/form-data",
            follow_redirects=True,
        )
        page = response.get_data(as_text=True)
        assert "Codebook from “Erbil head office” imported: 3 new, 0 updated, 0 unchanged." in page
        with field.app_context():
            here = {
                c.id: (c.rev, c.name, c.parent, c.merged_into)
                for c in codebook.all_codes(include_merged=True)
            }
        with office.app_context():
            there = {
                c.id: (c.rev, c.name, c.parent, c.merged_into)
                for c in codebook.all_codes(include_merged=True)
            }
        assert here == there
        assert set(here) == {theme, sub, old}
        # Again: nothing changes.
        before = code_versions(field)
        client.post(
            "/codebook/import",
            data={"file": (io.BytesIO(data), "codebook.json")},
            content_type="multipart/form-data",
        )
        assert code_versions(field) == before
        # A later edit at head office wins on the laptop after the next import.
        with office.app_context():
            codebook.edit_code(theme, {"colour": "#d55e00"}, codebook.get(theme).rev)
            newer = codebook.codebook_file(ho.folder)
        with field.app_context():
            summary = codebook.import_codebook_file(newer)
            assert (summary.new, summary.updated, summary.unchanged) == (0, 1, 2)
            assert codebook.get(theme).colour == "#d55e00"
            events = db.session.execute(
                select(AuditEvent.action).where(AuditEvent.action.like("codebook.%"))
            ).scalars()
            assert list(events).count("codebook.imported") == 3


def test_a_resolved_conflict_travels_in_the_file(world, office):
    """Two offices renamed a code differently; head office resolves; the laptop that imports
    the file has the resolution and no conflict (the losers' deletions travel too)."""
    ho, laptop = world
    theme = add(office, "Security")
    with office.app_context():
        first = records.load_versions(theme)[0]
        mine = {**codebook.get(theme).body, "name": {"en": "Safety"}}  # stamps kept
        theirs = {**mine, "name": {"en": "Protection"}}
        with writing():
            records.store_versions(
                "code", theme, [next_version(first, mine), next_version(first, theirs)]
            )
        assert codebook.get(theme).conflicts == 1
        leaves = [v.rev for v in records.live_leaves(theme)]
        resolved = {**codebook.get(theme).editable(), "name": {"en": "Safety and protection"}}
        records.resolve_conflict(theme, resolved, leaves)
        data = codebook.codebook_file(ho.folder)
    with laptop.session():
        summary = codebook.import_codebook_file(data)
        assert summary.conflicts == 0
        code = codebook.get(theme)
        assert (code.name, code.conflicts) == ({"en": "Safety and protection"}, 0)


def corrupted(data: bytes, change) -> bytes:
    document = json.loads(data)
    change(document)
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _rename(document):
    for entry in document["codes"]:
        if not entry["deleted"] and entry["body"]["name"].get("en") == "Security":
            entry["body"]["name"]["en"] = "Insecurity"


def _bad_colour_resigned(document):
    document["codes"][0]["body"]["colour"] = "red"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "altered",
            "The signature of this codebook does not match its installation: "
            "the file was changed after it was written.",
        ),
        ("damaged", "This codebook file is damaged or is not a fieldapp codebook."),
        ("wrong-version", "This codebook file is damaged or is not a fieldapp codebook."),
        ("template", "This codebook file is damaged or is not a fieldapp codebook."),
        ("too-large", "This codebook file is damaged or is not a fieldapp codebook."),
        ("stranger", "This codebook comes from an installation that is not registered here."),
        ("revoked", "This codebook comes from an installation whose registration was revoked."),
    ],
)
def test_a_refused_codebook_file_changes_nothing(world, office, tmp_path, case, message):
    ho, laptop = world
    head_office_codebook(office)
    with office.app_context():
        data = codebook.codebook_file(ho.folder)
    if case == "altered":
        data = corrupted(data, _rename)
    elif case == "damaged":
        data = data[: len(data) // 2]
    elif case == "wrong-version":
        data = data.replace(b'"version": 1', b'"version": 2')
    elif case == "template":
        data = data.replace(b'"fieldapp-codebook"', b'"fieldapp-template"')
    elif case == "too-large":
        data = data + b" " * codebook.MAX_CODEBOOK_BYTES
    elif case == "stranger":
        stranger = Installation(tmp_path / "stranger", DeviceRole.HEADOFFICE, "Unknown", **CONFIG)
        with stranger.session():
            codebook.add_code({"en": "Foreign"}, "en", "#000000")
            data = codebook.codebook_file(stranger.folder)
    elif case == "revoked":
        from fieldapp.models import Device

        with laptop.session(), writing():
            device = db.session.execute(
                select(Device).where(Device.device_id == ho.public.device_id)
            ).scalar_one()
            device.revoked = True
    with laptop.session():
        with pytest.raises(codebook.CodebookError) as refused:
            codebook.import_codebook_file(data)
        assert str(refused.value.message) == message
        assert codebook.all_codes(include_merged=True) == []
        [event] = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "codebook.import_refused")
        ).scalars()
        assert json.loads(event.detail)["reason"]
    if case in ("altered", "stranger"):
        with site(laptop.folder, **CONFIG) as field:
            add_user(field, "faris", Role.FACILITATOR)
            client = browser(field, "faris")
            set_language(client, "ar")
            page = client.post(
                "/codebook/import",
                data={"file": (io.BytesIO(data), "codebook.json")},
                content_type="multipart/form-data",
                follow_redirects=True,
            ).get_data(as_text=True)
            assert 'dir="rtl"' in page
            assert translated("ar", message) in page
        assert code_versions(field) == 0


def test_a_file_with_an_invalid_code_is_refused_whole(world, office, tmp_path):
    """Signed, but one entry fails the record checks: nothing at all is imported."""
    ho, laptop = world
    head_office_codebook(office)
    with office.app_context():
        document = json.loads(codebook.codebook_file(ho.folder))
        del document["signature"]
        document["codes"][-1]["body"]["colour"] = "red"  # a version that check_body refuses
        payload = {"codes": document["codes"]}
        data = codebook.signed_file(codebook.CODEBOOK_FILE, payload, ho.folder)
    with laptop.session():
        with pytest.raises(codebook.CodebookError) as refused:
            codebook.import_codebook_file(data)
        assert "colour" in str(refused.value.message)
        assert codebook.all_codes(include_merged=True) == []


def test_a_file_whose_history_is_not_closed_is_refused(world, office):
    ho, laptop = world
    _theme, sub, _old = head_office_codebook(office)  # the sub-theme has two versions
    with office.app_context():
        document = json.loads(codebook.codebook_file(ho.folder))
        kept = [e for e in document["codes"] if e["parent"] is not None or e["id"] != sub]
        data = codebook.signed_file(codebook.CODEBOOK_FILE, {"codes": kept}, ho.folder)
    with laptop.session():
        with pytest.raises(codebook.CodebookError):
            codebook.import_codebook_file(data)
        assert codebook.all_codes(include_merged=True) == []


# ---- the command line -----------------------------------------------------------------------


def run(*args):
    import fieldapp.cli_codebook  # noqa: F401 -- adds the codebook group to the command

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_export_import_and_list_from_the_command_line(world, office, tmp_path):
    ho, laptop = world
    theme, sub, old = head_office_codebook(office)
    path = tmp_path / "codebook.json"
    result = run("--instance", str(ho.folder), "codebook", "export", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert "3 codes" in result.output
    result = run("--instance", str(laptop.folder), "codebook", "import", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["new"] == 3
    result = run("--instance", str(laptop.folder), "codebook", "list", "--json")
    listed = json.loads(result.output)["codes"]
    assert [c["id"] for c in listed] == [theme, sub, old]
    assert listed[2]["merged_into"] == theme
    result = run("--instance", str(laptop.folder), "--lang", "ar", "codebook", "list")
    assert "الأمن" in result.output
    assert "  " + sub in result.output  # a sub-theme is indented under its theme
    path.write_bytes(path.read_bytes().replace(b"Security", b"Insecurity"))
    result = run("--instance", str(laptop.folder), "codebook", "import", str(path))
    assert result.exit_code == 2
    assert "refused" in result.output
    with laptop.session():
        assert keys.self_device() is not None
        assert codebook.get(theme).name["en"] == "Security"


# ---- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(bool(pg_unavailable), reason=str(pg_unavailable))
def test_the_codebook_on_postgresql(tmp_path, pg_urls):  # noqa: F811
    """Add, merge with a coding, write the file, import it twice on a laptop: on PostgreSQL."""
    ho = Installation(
        tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil", SQLALCHEMY_DATABASE_URI=pg_urls()
    )
    laptop = Installation(
        tmp_path / "laptop",
        DeviceRole.FIELD,
        "Bashiqa",
        (ho,),
        SQLALCHEMY_DATABASE_URI=pg_urls(),
    )
    with ho.session() as app:
        answer = a_typed_answer(app)
        old = codebook.add_code({"en": "Water"}, "en", "#56b4e9")
        theme = codebook.add_code({"en": "Services"}, "en", "#009e73")
        sub = codebook.add_code({"en": "Electricity"}, "en", "#f0e442", parent=theme)
        code_answer(app, answer, [old])
        codebook.merge(old, theme, codebook.get(old).rev)
        assert codes_on(app, answer[3]) == (theme, [theme])
        data = codebook.codebook_file(ho.folder)
    with laptop.session():
        assert codebook.import_codebook_file(data).new == 3
        assert codebook.import_codebook_file(data).unchanged == 3
        assert [c.id for c in codebook.all_codes()] == [theme, sub]
        assert codebook.get(old).merged_into == theme
