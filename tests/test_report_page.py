"""The printable report (/analysis/report): who may read it, its languages, and that it is
always suppressed, even for an analyst who switched exact counts on for the dashboard."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from fieldapp.models import DeviceRole
from fieldapp.services import (
    action_plans,
    codebook,
    contributions,
    demo,
    records,
    review,
    workspace,
)
from fieldapp.services import contribution_query as query
from fieldapp.services.analysis import dashboard as dashboards
from fieldapp.services.analysis import report as reports
from fieldapp.services.analysis.tables import Suppressed

from .conftest import add_office_staff, login, set_language, translated
from .sync_world import Installation, copied_site

K = 5
URL = "/analysis/report"
# Theme names in every language, and one participant's words (approved: a quote).
WATER = {"en": "Water", "ar": "المياه", "ckb": "ئاو", "ku": "Av"}
LEAKS = {
    "en": "Leaking pipes",
    "ar": "تسرب الأنابيب",
    "ckb": "دزەی بۆرییەکان",
    "ku": "Boriyên diherikin",
}
ROADS = {"en": "Roads", "ar": "الطرق", "ckb": "ڕێگاوبان", "ku": "Rê"}
QUOTE = "الماء في حيّنا ملوّث منذ الصيف"
NOTE = "بدأت البلدية بمسح الطريق"


def make_world(app) -> dict[str, Any]:
    """Demo data (3 consultations, 90 submissions, small attendance counts), a codebook of two
    themes and a sub-code, 14 + 3 + 3 coded contributions (the 3s are small counts), one quote
    approved, one action point linked to Roads with a progress note. Returns the ids."""
    demo.fill(consultations=3, submissions=90, seed=7)
    contributions.rebuild()
    water = codebook.add_code(WATER, "en", "#0072b2")
    leaks = codebook.add_code(LEAKS, "en", "#56b4e9", parent=water)
    roads = codebook.add_code(ROADS, "en", "#e69f00")
    typed = [
        row
        for row in query.page(query.Filters(), limit=500).rows
        if row.text
        and review.is_typed(review.heads_by_id([row.question_id], "question").get(row.question_id))
    ]
    first = typed[0]
    key = records.add_submission(
        first.consultation_id,
        {first.question_id: QUOTE},
        "ar",
        "spoken",
        "report-quote",
        {"gender": "woman", "age_band": "30_44"},
    )
    quote_row = query.by_answer(key, first.question_id)
    assert quote_row is not None
    subject = review.subject_of(quote_row)
    review.apply_codes(subject, [water])
    review.set_state(subject, "approved")
    for row in typed[:13]:
        review.apply_codes(review.subject_of(row), [water])
    for row in typed[13:16]:
        review.apply_codes(review.subject_of(row), [leaks])
    for row in typed[16:19]:
        review.apply_codes(review.subject_of(row), [roads])
    action = next(
        a for a in action_plans.rows(query.Filters()) if a.consultation_id == first.consultation_id
    )
    rev = action_plans.link(action.id, action.rev, [roads], [])
    item = workspace.get(action.id, "action_point")
    workspace.add_note(item, "2026-11-20", NOTE, rev)
    return {"water": water, "leaks": leaks, "roads": roads, "action": dict(action.text)}


@pytest.fixture(scope="module")
def office_folder(tmp_path_factory):
    """A head office with the report's world and one account of each role."""
    root = tmp_path_factory.mktemp("report")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    with ho.session() as app:
        ids = make_world(app)
        add_office_staff(app)
    ho.ids = ids
    return ho


@pytest.fixture
def office(office_folder, tmp_path):
    """A copy of the head office for one test."""
    with copied_site(office_folder.folder, tmp_path / "ho") as app:
        app.ids = office_folder.ids
        yield app


def client_of(app, username: str, lang: str | None = None):
    client = app.test_client()
    assert login(client, username).status_code == 302
    if lang:
        set_language(client, lang)
    return client


def text_of(fragment: str) -> str:
    """What a reader sees of some HTML."""
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def cells(page: str) -> list[str]:
    """The text of every table cell of the page."""
    return [text_of(c).strip() for c in re.findall(r"<td\b[^>]*>(.*?)</td>", page, re.S)]


def small_counts(page: str) -> list[str]:
    """Table cells that show a count from 1 to K-1 (digits only, as the report writes them)."""
    return [c for c in cells(page) if re.fullmatch(r"\d+", c) and 1 <= int(c) < K]


def theme_section(page: str, code_id: str) -> str:
    match = re.search(
        rf'<section class="report-theme" id="theme-{code_id}">(.*?)</section>', page, re.S
    )
    assert match, f"no section for theme {code_id}"
    return match.group(1)


def test_the_raw_data_has_small_counts_for_suppression_to_hide(office):
    """Without suppression the world's tables would show counts below K (else the tests below
    would pass for the wrong reason)."""
    with office.test_request_context():
        board = dashboards.build(query.Filters(), k=K, exact=True)
        raw = [c for t in board.tables() for row in t.rows for c in row.cells]
        assert any(isinstance(c, int) and 1 <= c < K for c in raw)
        lines = reports.consultation_lines(query.Filters())
        assert len(lines) == 3  # three consultations: a count below K
        codes = {row.key: row.cells[0] for row in board.codes.rows}
        assert codes[office.ids["roads"]] == 3
        assert codes[office.ids["leaks"]] == 3


@pytest.mark.parametrize("username", ["dilan", "layla", "amira"])
def test_viewers_analysts_and_coordinators_read_the_report(office, username):
    """Every reader of head office gets the report with its sections, in English."""
    page = client_of(office, username).get(URL)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for heading in (
        "What the consultations were",
        "Who came",
        "What people said, by theme",
        "Results of the questions",
        "Action plans",
    ):
        assert heading in text_of(body)
    assert "Water" in body
    assert "Roads" in body
    assert "Erbil head office" in body
    assert "Inclusive governance" in body  # the consultations' programme, on the title page
    assert small_counts(body) == []
    assert "&lt;5" in body


def test_a_facilitator_may_not_read_the_report(office):
    """The report is head office's: a facilitator gets 403."""
    assert client_of(office, "hawre").get(URL).status_code == 403


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_report_in_arabic_and_sorani_reads_right_to_left(office, lang):
    """The whole page is right to left, headings and theme names in the reader's language, the
    approved quote and its demographics where allowed, the linked action under its theme."""
    body = client_of(office, "dilan", lang).get(URL).get_data(as_text=True)
    assert re.search(r'<html lang="[^"]+" dir="rtl">', body)
    assert translated(lang, "What people said, by theme") in body
    assert translated(lang, "Report on the consultations") in body
    assert WATER[lang] in body
    assert ROADS[lang] in body
    assert LEAKS[lang] in body
    water = theme_section(body, office.ids["water"])
    assert QUOTE in water
    roads = theme_section(body, office.ids["roads"])
    assert translated(lang, "What was done") in roads
    assert office.ids["action"][lang] in roads
    assert NOTE in roads
    assert NOTE not in water  # the action point is linked to Roads only
    assert small_counts(body) == []


def test_the_report_stays_suppressed_when_the_analyst_has_exact_counts_on(office):
    """An analyst's session switch shows exact counts on the dashboard, never in the report."""
    client = client_of(office, "layla")
    with client.session_transaction() as session:
        session["analysis_exact"] = True
    body = client.get(URL).get_data(as_text=True)
    assert small_counts(body) == []
    roads = theme_section(body, office.ids["roads"])
    assert "&lt;5" in roads  # 3 contributions coded Roads: withheld


def test_the_report_of_one_governorate_lists_only_its_consultations(office):
    """The filter in the URL chooses the consultations; the title page says it in words."""
    with office.test_request_context():
        lines = reports.consultation_lines(query.Filters())
    chosen = lines[0]
    others = [line for line in lines if line.governorate != chosen.governorate]
    client = client_of(office, "dilan")
    body = client.get(f"{URL}?governorate={chosen.governorate}").get_data(as_text=True)
    assert html.escape(chosen.title["en"]) in body
    for line in others:
        assert html.escape(line.title["en"]) not in body
    assert "Governorate:" in text_of(body)
    assert small_counts(body) == []


def test_the_report_is_suppressed_by_the_service_whatever_it_is_asked(office):
    """The service never builds an exact dashboard: every table it returns is published."""
    with office.test_request_context():
        built = reports.build(query.Filters(), k=K)
        assert built.dashboard.exact is False
        for table in built.tables():
            for row in table.rows:
                for cell in row.cells:
                    assert isinstance(cell, Suppressed) or cell == 0 or cell >= K, table.name
