"""The dashboard pages: who may read them, filters, languages, small counts, exact counts, files."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import openpyxl
import pytest

from fieldapp.models import AuditEvent, DeviceRole
from fieldapp.services import contribution_query as query
from fieldapp.services import contributions, demo, records

from .conftest import add_office_staff, login, set_language, translated
from .sync_world import Installation, copied_site

CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
# Summary figures that count people or submissions (the number of consultations counts no one).
FIGURE = re.compile(r"<dd>(.*?)</dd>", re.S)
TAG = re.compile(r"<[^>]+>")


@pytest.fixture(scope="module")
def office_folder(tmp_path_factory):
    """A head office holding demo data: 3 consultations, 90 submissions, and one of each role."""
    root = tmp_path_factory.mktemp("analysis-web")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    with ho.session() as app:
        demo.fill(consultations=3, submissions=90, seed=7)
        one = query.choices().consultations[0].id
        records.create(
            "action_point",
            {
                "consultation": one,
                "text": {"ar": "إصلاح شبكة المياه", "en": "Repair the water network"},
                "original_language": "en",
                "priority": "high",
                "status": "agreed",
                "responsible": "Mosul municipality",
                "due_on": "2025-01-31",
            },
        )
        contributions.rebuild()
        add_office_staff(app)
    return ho


@pytest.fixture
def office(office_folder, tmp_path):
    """A fresh copy of the head office for one test."""
    with copied_site(office_folder.folder, tmp_path / "ho") as app:
        yield app


def client_of(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def cells(page: str) -> list[str]:
    """The text of every table cell and summary figure of a page."""
    found = CELL.findall(page) + FIGURE.findall(page)
    return [unescape(TAG.sub("", c)).strip() for c in found]


def small_counts(page: str, k: int = 5) -> list[str]:
    """Cells that show a count from 1 to k-1 (a suppressed cell reads "<5")."""
    return [c for c in cells(page) if c.replace(",", "").isdigit() and 0 < int(c) < k]


def exact_events(app) -> list[AuditEvent]:
    with app.app_context():
        return (
            app.extensions["sqlalchemy"]
            .session.query(AuditEvent)
            .filter_by(action="analysis.exact_counts")
            .all()
        )


def governorates(app) -> list[str]:
    with app.app_context():
        return query.choices().governorates


@pytest.mark.parametrize("username", ["dilan", "layla", "amira"])
def test_readers_see_the_dashboard(office, username):
    page = client_of(office, username).get("/analysis/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for heading in ("Summary", "Who came", "Participation over time", "Themes", "Action points"):
        assert f">{heading}</h2>" in html
    assert html.count("<svg") >= 4  # charts drawn on the server
    assert 'class="chart-numbers"' in html  # each with its numbers beside it
    assert 'href="#themes"' in html  # skip links between the sections
    assert "/analysis/report" in html
    assert ">Dashboard</a>" in html  # in the main menu
    office_role = username != "dilan"
    assert ("Show exact counts" in html) is office_role
    assert ('action="/analysis/export"' in html) is office_role
    assert ('href="/contributions' in html) is office_role
    assert 'action="/analysis/tables"' in html
    overdue = html[html.index("Overdue action points") :]
    assert "Repair the water network" in overdue  # the overdue list, linked to its page
    assert re.search(r'<a href="/action-plans/[^"]+">(<[^>]+>)*Repair the water network', overdue)


def test_a_facilitator_may_not_open_the_dashboard(office):
    client = client_of(office, "hawre")
    page = client.get("/analysis/")
    assert page.status_code == 403
    assert ">Dashboard</a>" not in client.get("/").get_data(as_text=True)


def test_the_viewers_start_page_leads_to_the_dashboard(office):
    html = client_of(office, "dilan").get("/").get_data(as_text=True)
    assert 'href="/analysis/"' in html
    assert 'href="/analysis/report"' in html
    assert "being prepared" not in html


def test_filters_change_the_figures_and_stay_in_the_url(office):
    client = client_of(office, "layla")
    client.post("/analysis/exact", data={"on": "1"})
    everything = client.get("/analysis/").get_data(as_text=True)
    one = governorates(office)[0]
    filtered = client.get(f"/analysis/?governorate={one}").get_data(as_text=True)
    assert cells(everything) != cells(filtered)
    assert f'value="{one}" selected' in filtered
    # the downloads and the report carry the same filter
    assert f'name="governorate" value="{one}"' in filtered
    assert f"/analysis/report?governorate={one}" in filtered
    assert f"/contributions?governorate={one}" in filtered


def test_a_bad_filter_is_named_not_a_crash(office):
    page = client_of(office, "dilan").get("/analysis/?governorate=IQ-XX&from=yesterday")
    assert page.status_code == 200
    html = unescape(page.get_data(as_text=True))
    assert "There is no governorate IQ-XX here" in html
    assert "yesterday is not a date" in html


def test_breakdown_by_gender_adds_columns(office):
    client = client_of(office, "layla")
    plain = client.get("/analysis/").get_data(as_text=True)
    by_gender = client.get("/analysis/?by=gender").get_data(as_text=True)
    assert by_gender.count('<th scope="col">') > plain.count('<th scope="col">')
    assert 'value="gender" selected' in by_gender


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_right_to_left_and_translated(office, lang):
    client = client_of(office, "dilan")
    set_language(client, lang)
    html = client.get("/analysis/").get_data(as_text=True)
    assert re.search(r'<html lang="[^"]+" dir="rtl"', html)
    for msgid in ("Consultations", "Governorate", "Action points", "Show"):
        assert translated(lang, msgid) in html
    assert 'direction="rtl"' in html  # the charts are drawn right to left


def test_a_viewer_never_sees_a_small_count(office):
    client = client_of(office, "dilan")
    client.post("/analysis/exact", data={"on": "1"})  # refused (403), flag not set
    for url in ("/analysis/", "/analysis/?by=gender", "/analysis/?by=age"):
        html = client.get(url).get_data(as_text=True)
        assert small_counts(html) == [], url
        assert "&lt;5" in html  # and small counts there were


def test_the_exact_switch_shows_small_counts_and_is_logged(office):
    client = client_of(office, "layla")
    suppressed = client.get("/analysis/?by=gender").get_data(as_text=True)
    assert small_counts(suppressed) == []
    assert "Exact counts are on." not in suppressed
    answer = client.post("/analysis/exact", data={"on": "1", "query": "by=gender"})
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/analysis/?by=gender")
    exact = client.get("/analysis/?by=gender").get_data(as_text=True)
    assert small_counts(exact) != []
    assert "Exact counts are on." in exact
    assert "Hide exact counts" in exact
    client.post("/analysis/exact", data={"on": "0"})
    assert small_counts(client.get("/analysis/?by=gender").get_data(as_text=True)) == []
    events = exact_events(office)
    assert [e.detail for e in events] == [
        '{"on": true, "via": "web"}',
        '{"on": false, "via": "web"}',
    ]
    assert {e.actor_id for e in events} == {events[0].actor_id}
    assert events[0].actor_id


def test_a_viewer_may_not_switch_to_exact_counts(office):
    client = client_of(office, "dilan")
    refused = client.post("/analysis/exact", data={"on": "1"})
    assert refused.status_code == 403
    html = unescape(refused.get_data(as_text=True))
    assert "Not allowed" in html
    assert "role" in html  # says that this account's role may not do it
    assert exact_events(office) == []
    with client.session_transaction() as session:
        assert "analysis_exact" not in session


def test_a_forged_session_flag_does_not_give_a_viewer_exact_counts(office):
    client = client_of(office, "dilan")
    with client.session_transaction() as session:
        session["analysis_exact"] = True
    html = client.get("/analysis/?by=gender").get_data(as_text=True)
    assert small_counts(html) == []
    assert "Exact counts are on." not in html


def test_the_analysts_csv_has_a_bom_and_the_filter(office):
    client = client_of(office, "layla")
    one = governorates(office)[0]
    answer = client.post(
        "/analysis/export", data={"format": "csv", "lang": "ar", "governorate": one}, buffered=True
    )
    assert answer.status_code == 200
    assert "attachment" in answer.headers["Content-Disposition"]
    assert ".csv" in answer.headers["Content-Disposition"]
    body = answer.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert "\r\n" in text
    assert re.search(r"[\u0600-\u06FF]", text.splitlines()[0])  # Arabic headers


def test_the_analysts_xlsx_opens(office):
    client = client_of(office, "amira")
    answer = client.post(
        "/analysis/export", data={"format": "xlsx", "lang": "ckb", "hxl": "y"}, buffered=True
    )
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.get_data()), read_only=False)
    assert len(book.sheetnames) >= 2
    assert any(sheet.sheet_view.rightToLeft for sheet in book.worksheets)


def test_a_viewer_may_not_download_row_level_data(office):
    client = client_of(office, "dilan")
    for fmt in ("csv", "xlsx", "qdpx"):
        refused = client.post("/analysis/export", data={"format": fmt, "lang": "en"})
        assert refused.status_code == 403
        assert b"\xef\xbb\xbf" not in refused.get_data()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_viewer_downloads_the_suppressed_tables(office, fmt):
    client = client_of(office, "dilan")
    answer = client.post(
        "/analysis/tables", data={"format": fmt, "lang": "en", "by": "gender"}, buffered=True
    )
    assert answer.status_code == 200
    body = answer.get_data()
    if fmt == "csv":
        assert body.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        counts = [v for row in rows for v in row[1:]]  # the first column holds the labels
        small = [v for v in counts if v.isdigit() and 0 < int(v) < 5]
    else:
        book = openpyxl.load_workbook(io.BytesIO(body))
        counts = [
            v
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for v in row[1:]
        ]
        small = [v for v in counts if type(v) is int and 0 < v < 5]
    assert "<5" in counts
    assert small == []


def test_an_analysts_tables_file_is_suppressed_even_with_exact_counts_on(office):
    client = client_of(office, "layla")
    client.post("/analysis/exact", data={"on": "1"})
    answer = client.post(
        "/analysis/tables", data={"format": "csv", "lang": "en", "by": "gender"}, buffered=True
    )
    assert answer.status_code == 200
    assert "<5" in answer.get_data().decode("utf-8-sig")


def test_a_bad_format_is_refused_with_a_message(office):
    client = client_of(office, "layla")
    answer = client.post("/analysis/export", data={"format": "pdf", "lang": "en"})
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Choose a format and a language for the file." in page


def test_a_viewer_cannot_search_what_people_said(office):
    client = client_of(office, "dilan")
    everything = client.get("/analysis/").get_data(as_text=True)
    searched = client.get("/analysis/?q=zzzz-nothing-has-this").get_data(as_text=True)
    assert 'name="q"' not in searched
    assert cells(searched) == cells(everything)  # the words are ignored, not counted
    analyst = client_of(office, "layla")
    assert 'name="q"' in analyst.get("/analysis/").get_data(as_text=True)
