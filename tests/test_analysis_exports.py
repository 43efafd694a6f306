"""Row-level and aggregate exports: what an analyst finds when the file opens."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from fieldapp.database import writing
from fieldapp.models import AuditEvent, DeviceRole, Role, Submission
from fieldapp.services import codebook, contributions, demo, records, review
from fieldapp.services import contribution_query as query
from fieldapp.services.analysis import exports
from fieldapp.services.analysis.tables import Row, Suppressed, table
from fieldapp.services.records import submission_row, utc_stamp
from fieldapp.services.sync import schema

from .conftest import add_user, login, translated
from .sync_world import Installation, site

FAST = "scrypt:1024:8:1"
HYPERLINK = '=HYPERLINK("http://example.org/x","click")'
ARABIC = "نريد ماء نظيفاً للمدرسة"
TOWN_HALL = "00000000-0000-4000-8000-00000000a001"
Q_NEEDS = "00000000-0000-4000-8000-00000000b001"  # multiple choice
Q_RANK = "00000000-0000-4000-8000-00000000b002"  # ranking
Q_TEXT = "00000000-0000-4000-8000-00000000b003"  # free text
OPTIONS = [
    {"id": "water", "label": {"en": "Water", "ar": "الماء", "ckb": "ئاو", "ku": "Av"}},
    {
        "id": "power",
        "label": {"en": "Electricity", "ar": "الكهرباء", "ckb": "کارەبا", "ku": "Elektrîk"},
    },
    {"id": "jobs", "label": {"en": "Jobs", "ar": "فرص العمل", "ckb": "کار", "ku": "Kar"}},
]
SUBMISSIONS = [
    # (uuid tail, answers, gender)
    ("c001", {Q_NEEDS: ["water", "jobs"], Q_RANK: ["power", "water"], Q_TEXT: HYPERLINK}, "woman"),
    ("c002", {Q_NEEDS: ["power"], Q_RANK: ["jobs", "power", "water"], Q_TEXT: ARABIC}, "man"),
    ("c003", {Q_NEEDS: ["jobs"], Q_TEXT: "Off topic words"}, "woman"),
]


def submission_uuid(tail: str) -> str:
    return f"00000000-0000-4000-8000-00000000{tail}"


def add_town_hall() -> None:
    """A town hall in Mosul (Ninewa) with the question types demo data lacks."""
    records.create(
        "consultation",
        {
            "kind": "town_hall",
            "title": {"en": "Mosul town hall", "ar": "اجتماع الموصل العام"},
            "original_language": "ar",
            "status": "closed",
            "governorate": "IQ-NI",
            "district": "IQ-NI-MOSUL",
            "starts_on": "2026-05-14",
            "languages": ["ar", "en"],
        },
        record_id=TOWN_HALL,
    )
    questions = [
        (
            Q_NEEDS,
            "multiple_choice",
            {"en": "What does your area need?", "ar": "ماذا تحتاج منطقتك؟"},
        ),
        (Q_RANK, "ranking", {"en": "Rank the services", "ar": "رتّب الخدمات"}),
        (Q_TEXT, "free_text", {"en": "What should change?", "ar": "ما الذي يجب أن يتغير؟"}),
    ]
    for position, (qid, qtype, text) in enumerate(questions):
        body = {
            "consultation": TOWN_HALL,
            "position": position,
            "type": qtype,
            "text": text,
            "original_language": "ar",
        }
        if qtype != "free_text":
            body["options"] = OPTIONS
        records.create("question", body, record_id=qid)
    rows = []
    for tail, answers, gender in SUBMISSIONS:
        record = {
            "uuid": submission_uuid(tail),
            "consultation": TOWN_HALL,
            "device": records.this_device_id(),
            "created_at": utc_stamp(),
            "language": "ar",
            "channel": "kiosk",
            "consent": True,
            "idempotency_key": tail * 8,
            "answers": answers,
            "demographics": {"gender": gender, "age_band": "18_29"},
        }
        schema.check_submission(record)
        rows.append(submission_row(record))
    with writing() as session:
        session.execute(Submission.__table__.insert(), rows)
        contributions.index_submissions(json.loads(row["body"]) for row in rows)


def build_office(root, **config) -> Installation:
    """A head office with demo data, the Mosul town hall, one code applied, one exclusion."""
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office", **config)
    with ho.session() as app:
        demo.fill(consultations=2, submissions=40, seed=11)
        add_town_hall()
        contributions.rebuild()
        theme = codebook.add_code(
            {"en": "Water", "ar": "المياه"}, "en", "#1f77b4", {"en": "Clean water"}
        )
        sub = codebook.add_code({"en": "Schools", "ar": "المدارس"}, "en", "#ff7f0e", parent=theme)
        review.apply_codes(review.Subject(submission_uuid("c002"), Q_TEXT, TOWN_HALL), [sub])
        review.set_state(
            review.Subject(submission_uuid("c003"), Q_TEXT, TOWN_HALL), "excluded", "off_topic"
        )
        for name, role in (("amira", Role.COORDINATOR), ("layla", Role.ANALYST)):
            add_user(app, name, role, display_name=name.title())
    return ho


@pytest.fixture(scope="module")
def office_folder(tmp_path_factory):
    return build_office(tmp_path_factory.mktemp("exports"))


@pytest.fixture
def office(office_folder, tmp_path):
    """A fresh copy of the head office for one test (exports write to the activity log)."""
    import shutil

    folder = tmp_path / "ho"
    shutil.copytree(office_folder.folder, folder)
    with site(folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        yield app


def export(app, fmt="csv", lang="en", hxl=False, **filters):
    out = io.BytesIO()
    with app.app_context():
        done = exports.write(exports.ExportRequest(query.Filters(**filters), fmt, lang, hxl), out)
    return done, out.getvalue()


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def town_hall(rows, header):
    """The town hall's rows (its submissions), by submission uuid."""
    sid = header.index("Submission")
    return {
        r[sid]: dict(zip(header, r, strict=True))
        for r in rows
        if r[sid].endswith(("c001", "c002", "c003"))
    }


def test_csv_has_a_bom_crlf_and_one_row_per_submission(office):
    """Excel needs the BOM for Arabic; lines end CRLF; one row per submission, not per answer."""
    done, data = export(office)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")
    rows = read_csv(data)
    header, body = rows[0], rows[1:]
    assert header[:11] == [
        "Submission",
        "Consultation",
        "Programme",
        "Governorate",
        "District",
        "Date",
        "Language",
        "Channel",
        "Gender",
        "Age band",
        "Group",
    ]
    assert done.rows == len(body) == 43  # 40 demo submissions and 3 at the town hall
    assert all(len(r) == len(header) for r in body)
    assert done.file_name.endswith(".csv")
    assert done.media_type.startswith("text/csv")
    rows_by_id = town_hall(body, header)
    first = rows_by_id[submission_uuid("c001")]
    assert first["Consultation"] == "Mosul town hall"
    assert first["Governorate"] == "Ninewa"
    assert first["District"] == "Mosul"
    assert first["Date"] == "2026-05-14"
    assert first["Gender"] == "Woman"
    assert first["Age band"] == "18-29"
    assert first["Language"] == "العربية"
    assert first["Channel"] == "Kiosk"


def test_multiple_choice_and_ranking_get_a_column_per_option(office):
    _done, data = export(office)
    rows = read_csv(data)
    header = rows[0]
    by_id = town_hall(rows[1:], header)
    first = by_id[submission_uuid("c001")]
    question = "What does your area need?"
    assert first[question] == "Water ; Jobs"
    assert [first[f"{question} — {o}"] for o in ("Water", "Electricity", "Jobs")] == ["1", "0", "1"]
    ranks = [first[f"Rank the services — rank of {o}"] for o in ("Water", "Electricity", "Jobs")]
    assert ranks == ["2", "1", ""]
    second = by_id[submission_uuid("c002")]
    assert [
        second[f"Rank the services — rank of {o}"] for o in ("Water", "Electricity", "Jobs")
    ] == [
        "3",
        "2",
        "1",
    ]
    assert second["What should change? — codes"] == "Schools"
    assert second["What should change? — review state"] == "Received"
    # One column per question of the consultation: every demo question appears once too.
    assert header.count("What should change?") == 1


def test_excluded_answers_are_left_out_unless_asked(office):
    _done, data = export(office)
    rows = read_csv(data)
    by_id = town_hall(rows[1:], rows[0])
    assert by_id[submission_uuid("c003")]["What should change?"] == ""
    assert by_id[submission_uuid("c003")]["What does your area need?"] == "Jobs"
    _done, data = export(office, include_excluded=True)
    rows = read_csv(data)
    third = town_hall(rows[1:], rows[0])[submission_uuid("c003")]
    assert third["What should change?"] == "Off topic words"
    assert third["What should change? — review state"] == "Excluded"


def test_a_formula_typed_by_a_participant_is_escaped_in_csv(office):
    _done, data = export(office)
    rows = read_csv(data)
    first = town_hall(rows[1:], rows[0])[submission_uuid("c001")]
    assert first["What should change?"] == "'" + HYPERLINK
    assert not any(cell.startswith("=") for row in rows for cell in row)


def test_arabic_headers_and_labels_with_lang_ar(office):
    _done, data = export(office, lang="ar")
    rows = read_csv(data)
    header = rows[0]
    assert header[:4] == [
        translated("ar", m) for m in ("Submission", "Consultation", "Programme", "Governorate")
    ]
    assert "ماذا تحتاج منطقتك؟" in header
    assert "ماذا تحتاج منطقتك؟ — الماء" in header
    body = [r for r in rows[1:] if r[0] == submission_uuid("c001")][0]
    assert "اجتماع الموصل العام" in body
    assert "نينوى" in body


def test_governorate_filter_keeps_only_its_submissions(office):
    done, data = export(office, governorates=("IQ-NI",))
    rows = read_csv(data)
    gov = rows[0].index("Governorate")
    assert {r[gov] for r in rows[1:]} == {"Ninewa"}
    assert done.rows == len(rows) - 1 >= 3


def test_hxl_adds_a_hashtag_row(office):
    _done, data = export(office, hxl=True, governorates=("IQ-NI",))
    rows = read_csv(data)
    tags = rows[1]
    assert tags[:6] == [
        "#meta+id",
        "#event+name",
        "#activity+programme",
        "#adm1+name",
        "#adm2+name",
        "#date",
    ]
    assert "#gender" in tags
    assert "#age" in tags
    assert "#description+text" in tags
    assert len(tags) == len(rows[0])
    assert rows[2][0].startswith("00000000")  # data starts below the hashtags


def test_xlsx_sheets_rtl_frozen_filtered_typed(office):
    done, data = export(office, fmt="xlsx", lang="ar")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert len(book.sheetnames) == 5
    assert book.sheetnames[1:] == [
        translated("ar", m) for m in ("Contributions", "Attendance", "Action points", "Codebook")
    ]
    about, contributions_sheet = book.worksheets[0], book.worksheets[1]
    for sheet in book.worksheets:
        assert sheet.sheet_view.rightToLeft
    assert contributions_sheet.freeze_panes == "A2"
    assert contributions_sheet.auto_filter.ref
    header = [c.value for c in contributions_sheet[1]]
    date_col = header.index(translated("ar", "Date")) + 1
    first = contributions_sheet.cell(row=2, column=date_col).value
    assert isinstance(first, datetime | date)
    # The participant's formula is a text cell, never a formula.
    text_col = header.index("ما الذي يجب أن يتغير؟") + 1
    cells = [
        contributions_sheet.cell(row=r, column=text_col)
        for r in range(2, contributions_sheet.max_row + 1)
    ]
    hyperlink = [c for c in cells if c.value == HYPERLINK]
    assert hyperlink
    assert hyperlink[0].data_type == "s"
    assert done.rows == contributions_sheet.max_row - 1 == 43
    about_values = [c.value for row in about.iter_rows() for c in row]
    assert 43 in about_values  # the row count
    assert any(isinstance(v, datetime) for v in about_values)  # when, typed


def test_xlsx_in_english_is_left_to_right(office):
    _done, data = export(office, fmt="xlsx", lang="en")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames[:2] == ["About", "Contributions"]
    assert not book.worksheets[1].sheet_view.rightToLeft
    codebook_sheet = book["Codebook"]
    rows = [[c.value for c in row] for row in codebook_sheet.iter_rows()]
    assert rows[0] == ["Code", "Theme", "Colour", "Status", "Description"]
    assert rows[1][0] == "Water"
    assert not rows[1][1]
    assert rows[1][2:5] == ["#1f77b4", "In use", "Clean water"]
    assert rows[2][:4] == ["Schools", "Water", "#ff7f0e", "In use"]
    about = [[c.value for c in row] for row in book["About"].iter_rows()]
    assert ["Filters", "No filter: every contribution not excluded"] in about
    assert ["Exported by", "Command line"] in about


def test_xlsx_in_sorani_is_right_to_left(office):
    _done, data = export(office, fmt="xlsx", lang="ckb")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert all(sheet.sheet_view.rightToLeft for sheet in book.worksheets)


def test_qdpx_is_a_project_with_the_free_text_sources(office):
    """One text source per free-text contribution (excluded left out), the codebook nested,
    the coding of a contribution over its whole text."""
    import uuid
    from xml.etree import ElementTree

    done, data = export(office, fmt="qdpx", governorates=("IQ-NI",))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert "project.qde" in archive.namelist()
    ns = {"q": "urn:QDA-XML:project:1.0"}
    # Our own file, just written: not untrusted input.
    project = ElementTree.fromstring(archive.read("project.qde"))  # noqa: S314
    sources = project.findall("q:Sources/q:TextSource", ns)
    assert len(sources) == done.rows == 2  # c001 and c002; c003's answer is excluded
    with office.app_context():
        keys = {
            r.submission_uuid: r.key
            for r in query.page(query.Filters(questions=(Q_TEXT,)), limit=50).rows
        }
    by_guid = {s.get("guid"): s for s in sources}
    coded = by_guid[str(uuid.uuid5(exports.SOURCE_NS, keys[submission_uuid("c002")]))]
    assert coded.get("name") == "Mosul town hall — What should change? — 0000c002"
    text = archive.read("sources/" + coded.get("plainTextPath").removeprefix("internal://")).decode(
        "utf-8"
    )
    assert text == ARABIC
    selection = coded.find("q:PlainTextSelection", ns)
    assert (selection.get("startPosition"), selection.get("endPosition")) == ("0", str(len(ARABIC)))
    theme = project.find("q:CodeBook/q:Codes/q:Code", ns)
    assert theme.get("name") == "Water"
    schools = theme.find("q:Code", ns)
    assert schools.get("name") == "Schools"
    assert selection.find("q:Coding/q:CodeRef", ns).get("targetGUID") == schools.get("guid")
    plain = by_guid[str(uuid.uuid5(exports.SOURCE_NS, keys[submission_uuid("c001")]))]
    assert plain.find("q:PlainTextSelection", ns) is None


def test_the_activity_page_lists_exports(office):
    export(office, fmt="xlsx", lang="en")
    client = office.test_client()
    assert login(client, "amira").status_code == 302
    page = client.get("/activity?action=analysis").get_data(as_text=True)
    assert "Contributions exported" in page
    assert "contributions-" in page  # the file name is the entry's subject


def test_every_export_is_in_the_activity_log_without_words(office):
    export(office, fmt="csv", lang="ar", governorates=("IQ-NI",))
    with office.app_context():
        from fieldapp.extensions import db

        event = db.session.query(AuditEvent).filter_by(action="analysis.exported").one()
        detail = json.loads(event.detail)
    assert detail["format"] == "csv"
    assert detail["lang"] == "ar"
    assert detail["filters"] == [["governorate", "IQ-NI"]]
    assert detail["rows"] >= 3
    assert detail["via"] == "command line"
    assert ARABIC not in event.detail
    assert "HYPERLINK" not in event.detail


def test_unknown_format_is_refused(office):
    with office.app_context(), pytest.raises(exports.ExportRefused):
        exports.write(exports.ExportRequest(query.Filters(), "pdf", "en"), io.BytesIO())


class FakeDashboard:
    """The two attributes write_tables reads, with published tables."""

    def __init__(self, exact: bool = False) -> None:
        self.exact = exact
        self.filters = query.Filters()
        made = table(
            "attendance",
            "Attendance",
            ["Woman", "Man"],
            [Row("18–29", (7, 2)), Row("30–44", (9, 6))],
            totals=True,
        )
        cells = made.counts()
        cells[0][1] = Suppressed(5)
        cells[0][2] = Suppressed(5)
        cells[1][1] = Suppressed(5)
        cells[1][2] = Suppressed(5)
        self._tables = [made.with_cells(cells, published=True)]

    def tables(self):
        return self._tables


def test_tables_export_writes_counts_and_suppressed_strings(office):
    out = io.BytesIO()
    with office.app_context():
        done = exports.write_tables(FakeDashboard(), "csv", out, "en")
        event = (
            office.extensions["sqlalchemy"]
            .session.query(AuditEvent)
            .filter_by(action="analysis.tables_exported")
            .one()
        )
    rows = read_csv(out.getvalue())
    assert rows[0] == ["Attendance"]
    assert rows[1] == ["", "Woman", "Man", "Total"]
    assert rows[2] == ["18–29", "7", "<5", "<5"]
    assert done.rows == 3
    assert json.loads(event.detail)["rows"] == 3
    out = io.BytesIO()
    with office.app_context():
        exports.write_tables(FakeDashboard(), "xlsx", out, "ar")
    sheet = openpyxl.load_workbook(out).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[2][:3] == ["18–29", 7, "<5"]


def test_an_exact_dashboard_is_never_written_to_a_file(office):
    out = io.BytesIO()
    with office.app_context(), pytest.raises(exports.ExportRefused):
        exports.write_tables(FakeDashboard(exact=True), "csv", out, "en")
    assert out.getvalue() == b""


@pytest.mark.postgres
def test_the_same_files_on_postgresql(tmp_path, office):
    """On PostgreSQL (a server-side cursor) the CSV holds the same rows as on SQLite."""
    from .test_postgres import PG_SERVER, _execute, _reason

    if _reason:
        pytest.skip(_reason)
    import secrets

    schema_name = "fieldapp_" + secrets.token_hex(6)
    _execute(f"CREATE SCHEMA {schema_name}")
    try:
        url = f"{PG_SERVER}/test?options=-csearch_path%3D{schema_name}"
        ho = build_office(tmp_path / "pg", SQLALCHEMY_DATABASE_URI=url)
        with site(ho.folder, SQLALCHEMY_DATABASE_URI=url) as app:
            with app.app_context():
                from fieldapp.extensions import db

                assert db.engine.dialect.name == "postgresql"
            done, data = export(app, lang="ar", hxl=True)
            xlsx_done, _xlsx = export(app, fmt="xlsx")
        expected_done, expected = export(office, lang="ar", hxl=True)
        pg_rows, sqlite_rows = read_csv(data), read_csv(expected)
        assert pg_rows[:2] == sqlite_rows[:2]
        assert sorted(pg_rows[2:]) == sorted(sqlite_rows[2:])
        assert done.rows == expected_done.rows == xlsx_done.rows == 43
    finally:
        _execute(f"DROP SCHEMA {schema_name} CASCADE")
