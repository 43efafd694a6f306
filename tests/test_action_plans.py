"""The Action plans pages: every action point followed up, linked to what people said.

A head office holds demo data (contributions of three consultations) and three consultations
of its own with six action points whose statuses, due dates and places are known, a codebook
with themes, a sub-theme and a merged code, and some contributions coded with them.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from fieldapp.models import DeviceRole, RecordHead
from fieldapp.services import action_plans, contributions, demo, records, review, workspace
from fieldapp.services import contribution_query as query
from fieldapp.services.sync import schema

from .conftest import PASSWORD, add_office_staff, login, set_language, translated
from .sync_world import Installation, copied_site

TODAY = date(2026, 6, 15)
NOWHERE = "00000000-0000-4000-8000-000000000000"


def _consultation(title, governorate, district, starts_on):
    return workspace.save_consultation(
        {
            "kind": "lpc_meeting",
            "title": {"en": title, "ar": f"اجتماع {title}", "ckb": f"کۆبوونەوەی {title}"},
            "original_language": "en",
            "status": "open",
            "governorate": governorate,
            "district": district,
            "starts_on": starts_on,
            "languages": ["en", "ar", "ckb"],
        }
    )


def _action(consultation, text, status, due_on=None, notes=(), priority="medium"):
    body = {
        "text": {"en": text, "ar": f"إجراء: {text}", "ckb": f"کار: {text}"},
        "original_language": "en",
        "priority": priority,
        "status": status,
        "responsible": "Mosul district council",
        "notes": list(notes),
    }
    if due_on:
        body["due_on"] = due_on
    return workspace.add_action(consultation, body)


def _code(name, colour, parent=None, **extra):
    body = {"name": {"en": name}, "original_language": "en", "colour": colour, "status": "active"}
    if parent:
        body["parent"] = parent
    body.update(extra)
    return records.create("code", body)[0]


@pytest.fixture(scope="module")
def office_folder(tmp_path_factory):
    """The head office described at the top, with one account of each role."""
    root = tmp_path_factory.mktemp("plans")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    world = {}
    with ho.session() as app:
        demo.fill(consultations=3, submissions=90, seed=7)
        for item in workspace._items("action_point"):  # noqa: SLF001 -- a known world
            records.delete(item.id, item.rev)
        c1 = _consultation("Mosul town hall", "IQ-NI", "IQ-NI-MOSUL", "2026-03-01")
        c2 = _consultation("Tel Afar LPC", "IQ-NI", "IQ-NI-TEL-AFAR", "2026-04-10")
        c3 = _consultation("Basra youth forum", "IQ-BA", "IQ-BA-BASRA", "2026-05-05")
        notes = [
            {"on": "2026-05-20", "text": "Contractor chosen"},
            {"on": "2026-04-01", "text": "Budget asked for"},
        ]
        world["actions"] = {
            "a1": _action(c1, "Repair the water pipes", "agreed", "2026-05-01", notes, "high"),
            "a2": _action(c1, "Open the clinic", "done", "2026-05-01"),
            "a3": _action(c1, "Light the market street", "in_progress", "2099-07-01"),
            "a4": _action(c2, "Train the committee", "proposed"),
            "a5": _action(c3, "Youth centre", "dropped", "2026-01-01"),
            "a6": _action(c3, "Sports ground", "agreed", "2026-06-14"),
        }
        world["consultations"] = {"c1": c1, "c2": c2, "c3": c3}
        water = _code("Water", "#1f77b4")
        wells = _code("Wells", "#17becf", parent=water)
        roads = _code("Roads", "#ff7f0e")
        old = _code("Streets", "#8c564b", status="retired", merged_into=roads)
        empty = _code("Nobody said this", "#9467bd")
        safety = _code("Safety", "#d62728")
        world["codes"] = dict(
            water=water, wells=wells, roads=roads, old=old, empty=empty, safety=safety
        )
        contributions.rebuild()
        typed = [
            r
            for r in query.page(query.Filters(), limit=500).rows
            if r.text and json.loads(records.current(r.question_id).body)["type"] == "free_text"
        ]
        coded = [[water], [wells], [water, wells], [roads], [old]]
        for row, codes in zip(typed, coded, strict=False):
            records.create(
                "coding",
                {**review.subject_of(row).body, "codes": codes},
                schema.contribution_record_id("coding", row.submission_uuid, row.question_id),
            )
        contributions.rebuild()
        world["typed"] = [(r.submission_uuid, r.question_id, r.key, r.text) for r in typed[:6]]
        a1 = workspace.get(world["actions"]["a1"], "action_point")
        workspace.update_fields(a1, {"codes": [wells]}, a1.rev)
        a3 = workspace.get(world["actions"]["a3"], "action_point")
        r3 = world["typed"][3]
        workspace.update_fields(
            a3, {"contributions": [{"submission": r3[0], "question": r3[1]}]}, a3.rev
        )
        a5 = workspace.get(world["actions"]["a5"], "action_point")
        workspace.update_fields(a5, {"codes": [safety]}, a5.rev)
        add_office_staff(app)
    ho.world = world
    return ho


@pytest.fixture
def office(office_folder, tmp_path):
    """A fresh copy of the head office for one test."""
    with copied_site(office_folder.folder, tmp_path / "ho") as app:
        app.world = office_folder.world
        yield app


def client_of(app, username="layla"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def ids(app, found):
    names = {v: k for k, v in app.world["actions"].items()}
    return [names[a.id] for a in found]


def body_of(app, record_id):
    with app.app_context():
        head = app.extensions["sqlalchemy"].session.get(RecordHead, record_id)
        return head.winner_rev, json.loads(head.body)


# ---- the service ----------------------------------------------------------------------------


def test_every_action_point_is_listed_soonest_due_first_with_overdue_ones_marked(office):
    with office.app_context():
        found = action_plans.rows(query.Filters(), today=TODAY)
    assert ids(office, found) == ["a5", "a1", "a2", "a6", "a3", "a4"]
    overdue = {name for name, a in zip(ids(office, found), found, strict=True) if a.overdue}
    assert overdue == {"a1", "a6"}  # a2 is done, a5 dropped: late but not overdue
    a1 = found[1]
    assert a1.governorate == "IQ-NI"
    assert a1.consultation_title["en"] == "Mosul town hall"
    assert a1.latest_note["text"] == "Contractor chosen"
    assert [n["text"] for n in a1.notes_by_date] == ["Budget asked for", "Contractor chosen"]


def test_filters_governorate_status_overdue_and_dates(office):
    with office.app_context():
        ninewa = action_plans.rows(query.Filters(governorates=("IQ-NI",)), today=TODAY)
        agreed = action_plans.rows(query.Filters(), statuses=("agreed",), today=TODAY)
        late = action_plans.rows(query.Filters(), overdue_only=True, today=TODAY)
        later = action_plans.rows(query.Filters(), overdue_only=True, today=date(2026, 5, 2))
        april = action_plans.rows(
            query.Filters(date_from="2026-04-01", date_to="2026-04-30"), today=TODAY
        )
        district = action_plans.rows(query.Filters(districts=("IQ-BA-BASRA",)), today=TODAY)
    assert sorted(ids(office, ninewa)) == ["a1", "a2", "a3", "a4"]
    assert sorted(ids(office, agreed)) == ["a1", "a6"]
    assert sorted(ids(office, late)) == ["a1", "a6"]
    assert ids(office, later) == ["a1"]  # on 2 May the sports ground was not due yet
    assert ids(office, april) == ["a4"]
    assert sorted(ids(office, district)) == ["a5", "a6"]


def test_counts_per_status_per_governorate(office):
    with office.app_context():
        counted = action_plans.status_table(query.Filters(), today=TODAY)
        labels = [str(r.label) for r in counted.rows]
        columns = [str(c) for c in counted.columns]
    assert counted.name == "actions_by_status"
    assert columns == ["Proposed", "Agreed", "In progress", "Done", "Dropped", "Total"]
    assert labels == ["Basra", "Ninewa", "Total"]
    assert [list(r.cells) for r in counted.rows] == [
        [0, 1, 0, 0, 1, 2],
        [1, 1, 1, 1, 0, 4],
        [1, 2, 1, 1, 1, 6],
    ]
    assert counted.total_row
    assert counted.total_column
    assert not counted.published


def test_you_said_we_did_folds_sub_codes_and_merges_and_follows_coded_contributions(office):
    codes, actions = office.world["codes"], office.world["actions"]
    with office.app_context():
        said = action_plans.you_said_we_did(query.Filters(), today=TODAY)
        basra = action_plans.you_said_we_did(
            query.Filters(consultations=(office.world["consultations"]["c3"],)), today=TODAY
        )
    summary = [(f.code_id, f.contributions, [a.id for a in f.actions]) for f in said]
    assert summary == [
        (codes["water"], 3, [actions["a1"]]),  # a1 is linked to the sub-code Wells
        (codes["roads"], 2, [actions["a3"]]),  # Streets merged into Roads; a3 via a contribution
        (codes["safety"], 0, [actions["a5"]]),
    ]
    assert said[0].name == {"en": "Water"}
    assert said[0].colour == "#1f77b4"
    assert codes["empty"] not in {f.code_id for f in said}
    # No contribution of the Basra forum is coded: only its action point's theme is left.
    assert [(f.code_id, f.contributions) for f in basra] == [(codes["safety"], 0)]


def test_link_saves_codes_and_contributions_and_refuses_what_does_not_exist(office):
    a4 = office.world["actions"]["a4"]
    sub, question, *_ = office.world["typed"][0]
    rev, _body = body_of(office, a4)
    with office.app_context():
        with pytest.raises(action_plans.ActionPlanError) as unknown_code:
            action_plans.link(a4, rev, [NOWHERE], [])
        with pytest.raises(action_plans.ActionPlanError) as unknown_contribution:
            action_plans.link(a4, rev, [], [(NOWHERE, question)])
    assert "There is no code" in str(unknown_code.value.message)
    assert "There is no contribution" in str(unknown_contribution.value.message)
    assert body_of(office, a4)[0] == rev
    with office.app_context():
        new = action_plans.link(a4, rev, [office.world["codes"]["roads"]], [(sub, question)])
        with pytest.raises(records.StaleRecord):
            action_plans.link(a4, rev, [], [])
    now_rev, body = body_of(office, a4)
    assert now_rev == new
    assert body["codes"] == [office.world["codes"]["roads"]]
    assert body["contributions"] == [{"submission": sub, "question": question}]


def test_a_contribution_is_named_by_its_key_or_its_address():
    sub, question = "1" * 8 + "-1111-4111-8111-" + "1" * 12, "2" * 8 + "-2222-4222-8222-" + "2" * 12
    key = f"2026-01-01T00:00:00Z|{sub}|{question}"
    assert action_plans.parse_contribution_ref(key) == (sub, question)
    address = f"http://ho.local/contributions/{sub}/{question}?state=approved"
    assert action_plans.parse_contribution_ref(address) == (sub, question)
    assert action_plans.parse_contribution_ref("just words") is None


# ---- the pages ------------------------------------------------------------------------------


def test_the_list_page_shows_each_action_point_with_its_place_due_date_and_progress(office):
    html = client_of(office).get("/action-plans/").get_data(as_text=True)
    assert "6 action points match." in html
    assert "Repair the water pipes" in html
    assert "Youth centre" in html
    assert "Mosul town hall" in html
    assert "<bdi>Ninewa</bdi>" in html
    assert "<bdi>Basra</bdi>" in html
    assert "<bdi>Mosul district council</bdi>" in html
    assert '<span dir="ltr">2026-05-01</span>' in html
    assert "Contractor chosen" in html
    assert "2 progress notes in all" in html
    assert html.count('class="overdue-mark">Overdue</strong>') == 2  # in words, not colour only
    counts = html[html.index('class="counts"') : html.index("</table>")]
    assert re.sub(r"\s+", "", counts).count("<td>6</td>") == 1  # the grand total


def test_the_list_page_filters_by_governorate_status_and_overdue_from_the_url(office):
    client = client_of(office)
    ninewa = client.get("/action-plans/?governorate=IQ-NI").get_data(as_text=True)
    assert "4 action points match." in ninewa
    assert "Youth centre" not in ninewa
    done = client.get("/action-plans/?status=done").get_data(as_text=True)
    assert "1 action point matches." in done
    assert "Open the clinic" in done
    late = client.get("/action-plans/?overdue=1").get_data(as_text=True)
    assert "2 action points match." in late
    assert "Repair the water pipes" in late
    assert "Sports ground" in late
    bad = client.get("/action-plans/?governorate=IQ-XX&status=finished").get_data(as_text=True)
    assert "There is no governorate IQ-XX here; that filter was left out." in bad
    assert "There is no status finished; that filter was left out." in bad
    assert "6 action points match." in bad


def test_linking_on_the_page_then_seeing_the_codes_and_contributions(office):
    a4 = office.world["actions"]["a4"]
    sub, question, key, text = office.world["typed"][0]
    client = client_of(office)
    page = client.get(f"/action-plans/{a4}").get_data(as_text=True)
    rev = re.search(r'name="base_rev" type="hidden" value="([^"]+)"', page).group(1)
    roads = office.world["codes"]["roads"]
    assert f'value="{roads}"' in page
    response = client.post(
        f"/action-plans/{a4}/links", data={"code": [roads], "add": key, "base_rev": rev}
    )
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Links saved." in html
    assert 'fill="#ff7f0e"' in html  # the Roads code with its colour
    assert f'href="/contributions/{sub}/{question}"' in html
    assert text[:30] in html.replace("&#39;", "'").replace("&#34;", '"')
    # Remove the contribution again with its checkbox.
    rev = body_of(office, a4)[0]
    client.post(
        f"/action-plans/{a4}/links",
        data={"code": [roads], "remove": [f"{sub}/{question}"], "base_rev": rev},
    )
    assert body_of(office, a4)[1]["contributions"] == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"code": [NOWHERE]}, f"There is no code {NOWHERE} in the codebook; nothing was linked."),
        (
            {"add": f"2026-01-01T00:00:00Z|{NOWHERE}|{NOWHERE}"},
            f"There is no contribution {NOWHERE} / {NOWHERE} here; nothing was linked.",
        ),
        (
            {"add": "the water one"},
            "“the water one” is not a contribution key or a contribution&#39;s address",
        ),
    ],
)
def test_an_unknown_code_or_contribution_is_refused_with_a_message_and_nothing_changes(
    office, data, message
):
    a4 = office.world["actions"]["a4"]
    rev, before = body_of(office, a4)
    client = client_of(office)
    response = client.post(f"/action-plans/{a4}/links", data={**data, "base_rev": rev})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert message in html
    assert body_of(office, a4) == (rev, before)


def test_a_stale_page_is_refused(office):
    a1 = office.world["actions"]["a1"]
    old_rev, _ = body_of(office, a1)
    client = client_of(office)
    client.post(f"/action-plans/{a1}/links", data={"code": [], "base_rev": old_rev})
    rev, body = body_of(office, a1)
    assert body["codes"] == []
    response = client.post(
        f"/action-plans/{a1}/links",
        data={"code": [office.world["codes"]["roads"]], "base_rev": old_rev},
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Someone else changed this action point since you opened it" in html
    assert body_of(office, a1) == (rev, body)


def test_a_viewer_reads_the_action_plans_but_cannot_link(office):
    a1 = office.world["actions"]["a1"]
    rev, before = body_of(office, a1)
    viewer = client_of(office, "dilan")
    response = viewer.post(f"/action-plans/{a1}/links", data={"code": [], "base_rev": rev})
    assert response.status_code == 403
    assert body_of(office, a1) == (rev, before)
    assert viewer.get("/action-plans/").status_code == 200
    page = viewer.get(f"/action-plans/{a1}").get_data(as_text=True)
    assert "Repair the water pipes" in page
    assert "Contractor chosen" in page
    assert "Budget asked for" in page  # the whole history of progress notes
    assert 'fill="#17becf"' in page  # its linked code, Wells
    assert "/links" not in page
    assert 'name="base_rev"' not in page


def test_a_facilitator_may_not_open_the_action_plans(office):
    assert client_of(office, "hawre").get("/action-plans/").status_code == 403


def test_an_action_point_that_does_not_exist_is_404(office):
    assert client_of(office).get(f"/action-plans/{NOWHERE}").status_code == 404


def test_a_linked_contribution_links_to_its_page_only_for_those_who_may_see_it(office):
    a3 = office.world["actions"]["a3"]
    sub, question, _key, _text = office.world["typed"][3]
    analyst = client_of(office).get(f"/action-plans/{a3}").get_data(as_text=True)
    viewer = client_of(office, "dilan").get(f"/action-plans/{a3}").get_data(as_text=True)
    assert f'href="/contributions/{sub}/{question}"' in analyst
    assert f"/contributions/{sub}" not in viewer


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_pages_read_right_to_left_in_arabic_and_sorani(office, lang):
    client = client_of(office)
    set_language(client, lang)
    listing = client.get("/action-plans/").get_data(as_text=True)
    assert 'dir="rtl"' in listing
    assert translated(lang, "Responsible") in listing
    assert translated(lang, "Agreed") in listing
    assert {"ar": "إجراء: Repair", "ckb": "کار: Repair"}[lang] in listing
    a1 = office.world["actions"]["a1"]
    page = client.get(f"/action-plans/{a1}").get_data(as_text=True)
    assert 'dir="rtl"' in page
    assert translated(lang, "Priority") in page


# ---- in chromium ----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_pages_in_chromium_right_to_left_with_44_pixel_targets(office_folder, tmp_path, lang):
    """Screenshots of the list and of an action point in Arabic and Sorani, read right to left."""
    from .serving import serving
    from .test_browser import CHROMIUM, chromium_page

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    shots = Path("/tmp/shots")  # noqa: S108 -- where the reviewer looks at the screens
    shots.mkdir(exist_ok=True)
    folder = tmp_path / "served"
    shutil.copytree(office_folder.folder, folder)
    a1 = office_folder.world["actions"]["a1"]
    with serving(folder) as url, chromium_page() as page:
        page.goto(url + "/login")
        page.fill("input[name=username]", "layla")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{url}/action-plans/?lang={lang}")
        assert page.get_attribute("html", "dir") == "rtl"
        page.screenshot(path=str(shots / f"plans-{lang}-list.png"), full_page=True)
        box = page.locator("a.action-link").first.bounding_box()
        assert box["height"] >= 44
        # Right to left: the first column (the action point) is at the right of the table.
        first = page.locator("table.action-list th").first.bounding_box()
        last = page.locator("table.action-list th").last.bounding_box()
        assert first["x"] > last["x"]
        page.goto(f"{url}/action-plans/{a1}?lang={lang}")
        assert page.get_attribute("html", "dir") == "rtl"
        checkbox = page.locator(".link-form label").first.bounding_box()
        assert checkbox["height"] >= 44
        page.screenshot(path=str(shots / f"plans-{lang}-action.png"), full_page=True)
