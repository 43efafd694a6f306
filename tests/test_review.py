"""The Contributions pages: list, filters, paging, a contribution's page, review and coding."""

from __future__ import annotations

import json
import re

import pytest

from fieldapp.models import DeviceRole, RecordHead, RecordVersion, Role
from fieldapp.services import contribution_query as query
from fieldapp.services import contributions, demo, records, review
from fieldapp.services.sync import schema

from .conftest import add_user, login, set_language, translated
from .sync_world import Installation, site

FAST = "scrypt:1024:8:1"


@pytest.fixture(scope="module")
def office_folder(tmp_path_factory):
    """A head office holding demo data: 3 consultations, 90 submissions, 4 answers each."""
    root = tmp_path_factory.mktemp("review")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    with ho.session() as app:
        demo.fill(consultations=3, submissions=90, seed=7)
        contributions.rebuild()  # demo.fill stores submissions without the read model
        for name, role in (
            ("amira", Role.COORDINATOR),
            ("layla", Role.ANALYST),
            ("hawre", Role.FACILITATOR),
            ("dilan", Role.VIEWER),
        ):
            add_user(app, name, role, display_name=name.title())
    return ho


@pytest.fixture
def office(office_folder, tmp_path):
    """A fresh copy of the head office for one test (tests change reviews)."""
    import shutil

    folder = tmp_path / "ho"
    shutil.copytree(office_folder.folder, folder)
    with site(folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        yield app


def client_of(app, username="layla"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def rows(app, **filters):
    with app.app_context():
        return query.page(query.Filters(**filters), limit=500).rows


def typed_rows(app):
    with app.app_context():
        heads = {
            h.record_id: json.loads(h.body)
            for h in app.extensions["sqlalchemy"]
            .session.query(RecordHead)
            .filter_by(kind="question")
        }
    return [r for r in rows(app) if heads[r.question_id]["type"] == "free_text"]


def rating_row(app):
    with app.app_context():
        for r in query.page(query.Filters(), limit=500).rows:
            body = json.loads(records.current(r.question_id).body)
            if body["type"] == "rating":
                return r
    raise AssertionError("no rating answer")


def page_url(r, **params):
    url = f"/contributions/{r.submission_uuid}/{r.question_id}"
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def review_of(app, r):
    with app.app_context():
        return review.current_review(review.subject_of(r))


def versions_of(app, kind, r):
    rid = schema.contribution_record_id(kind, r.submission_uuid, r.question_id)
    with app.app_context():
        return (
            app.extensions["sqlalchemy"]
            .session.query(RecordVersion)
            .filter_by(record_id=rid)
            .count()
        )


def make_code(app, name, parent=None, status="active", colour="#1f77b4"):
    body = {"name": {"en": name}, "original_language": "en", "colour": colour, "status": status}
    if parent:
        body["parent"] = parent
    with app.app_context():
        return records.create("code", body)[0]


def links(html):
    return [a.replace("&amp;", "&") for a in re.findall(r'href="([^"]+)"', html)]


# ---- the list ---------------------------------------------------------------------------------


def test_the_list_shows_every_answer_with_its_question_place_and_state(office):
    """An analyst sees the contributions, readable: choice labels, ratings, yes/no, typed text."""
    html = client_of(office).get("/contributions").get_data(as_text=True)
    assert "360 contributions match." in html
    assert "What should local government do first?" in html  # the question, in English
    assert " of 5" in html  # a rating, readable
    assert re.search(r">\s*(Yes|No)\s*<", html)
    assert "Received" in html
    assert "Not yet coded" in html
    assert html.count('name="key"') == 50  # one page of 50, a checkbox each
    assert "data-select-all" in html


def test_filters_combine_and_live_in_the_url(office):
    """Channel + language + question filters combine; the count and rows follow; links keep them."""
    every = rows(office)
    sample = every[0]
    expected = [
        r
        for r in every
        if r.channel == sample.channel
        and r.language == sample.language
        and r.question_id == sample.question_id
    ]
    url = (
        f"/contributions?channel={sample.channel}&language={sample.language}"
        f"&question={sample.question_id}"
    )
    html = client_of(office).get(url).get_data(as_text=True)
    number = len(expected)
    assert f"{number} contribution{'s' if number != 1 else ''} match" in html
    assert html.count('name="key"') == min(number, 50)
    # The link to each contribution carries the filter.
    contribution_links = [h for h in links(html) if h.startswith("/contributions/")]
    assert contribution_links
    assert all(f"channel={sample.channel}" in h for h in contribution_links)
    # The filter form shows the chosen values.
    assert f'<option value="{sample.channel}" selected>' in html


def test_a_filter_value_that_does_not_exist_is_named_and_the_rest_still_apply(office):
    every = rows(office)
    channel = every[0].channel
    html = (
        client_of(office)
        .get(f"/contributions?channel={channel}&governorate=IQ-XX&from=2026-13-45")
        .get_data(as_text=True)
    )
    assert "There is no governorate IQ-XX here; that filter was left out." in html
    assert "2026-13-45 is not a date" in html
    number = sum(1 for r in every if r.channel == channel)
    assert f"{number} contributions match" in html


def test_paging_links_keep_the_filters_and_walk_the_whole_list(office):
    client = client_of(office)
    first = client.get("/contributions?excluded=1").get_data(as_text=True)
    older = [h for h in links(first) if "after=" in h]
    assert older
    assert "excluded=1" in older[0]
    second = client.get(older[0]).get_data(as_text=True)
    newer = [h for h in links(second) if "before=" in h]
    assert newer
    assert "excluded=1" in newer[0]
    keys_first = re.findall(r'name="key" value="([^"]+)"', first)
    keys_second = re.findall(r'name="key" value="([^"]+)"', second)
    assert not set(keys_first) & set(keys_second)
    assert max(keys_second) < min(keys_first)  # older rows on the older page
    back = client.get(newer[0]).get_data(as_text=True)
    assert re.findall(r'name="key" value="([^"]+)"', back) == keys_first


def test_excluded_contributions_are_hidden_by_default_and_shown_with_the_switch(office):
    r = rows(office)[0]
    client = client_of(office)
    client.post(page_url(r) + "/review", data={"state": "excluded", "reason": "test_entry"})
    assert r.key not in client.get("/contributions").get_data(as_text=True)
    assert "359 contributions match." in client.get("/contributions").get_data(as_text=True)
    shown = client.get("/contributions?excluded=1").get_data(as_text=True)
    assert r.key in shown
    assert "360 contributions match." in shown
    assert "Test entry" in shown


# ---- a contribution's page ----------------------------------------------------------------------


def test_a_contribution_page_shows_its_submission_and_neighbours_in_the_filter(office):
    every = rows(office)
    channel = every[0].channel
    of_channel = [r for r in every if r.channel == channel]
    middle = of_channel[1]
    html = client_of(office).get(page_url(middle, channel=channel)).get_data(as_text=True)
    # The whole submission: all four answers of the demo questionnaire.
    assert html.count("<tr") >= 5
    assert "What is the first priority for your area?" in html
    assert "Do you feel safe in your area?" in html
    prev_link = re.search(r'href="([^"]+)" rel="prev" data-shortcut="k"', html)
    next_link = re.search(r'href="([^"]+)" rel="next" data-shortcut="j"', html)
    assert prev_link
    assert next_link
    assert prev_link.group(1).replace("&amp;", "&") == page_url(of_channel[0], channel=channel)
    assert next_link.group(1).replace("&amp;", "&") == page_url(of_channel[2], channel=channel)
    assert re.search(r'src="/static/js/review\.[0-9a-f]{12}\.js"', html)
    # The consultation is linked only for roles that may open it (analysts may not).
    link = f"/consultations/{middle.consultation_id}"
    assert link not in html
    assert link in client_of(office, "amira").get(page_url(middle)).get_data(as_text=True)
    assert "Nobody has reviewed this contribution yet" in html


def test_an_unknown_contribution_is_not_found(office):
    assert client_of(office).get("/contributions/nope/nope").status_code == 404


# ---- review states ------------------------------------------------------------------------------


def test_approve_two_and_exclude_one_as_a_duplicate_with_history(office):
    first, second, third = rows(office)[:3]
    client = client_of(office)
    for r in (first, second):
        response = client.post(page_url(r) + "/review", data={"state": "approved", "note": "ok"})
        assert response.status_code == 302
        assert review_of(office, r).state == "approved"
    response = client.post(
        page_url(third) + "/duplicate", data={"back": first.key, "query": "channel=kiosk"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(page_url(first, channel="kiosk"))
    now = review_of(office, third)
    assert (now.state, now.reason) == ("excluded", "duplicate")
    html = client.get(page_url(first)).get_data(as_text=True)
    assert "Approved" in html
    assert "Layla" in html
    assert "Erbil head office" in html
    # Changing it again keeps the first version in the history.
    client.post(
        page_url(first) + "/review",
        data={"state": "has_issues", "base_rev": review_of(office, first).rev},
    )
    html = client.get(page_url(first)).get_data(as_text=True)
    assert "Has issues" in html
    assert "Approved" in html
    assert versions_of(office, "review", first) == 2


def test_excluding_needs_a_reason(office):
    r = rows(office)[0]
    client = client_of(office)
    response = client.post(page_url(r) + "/review", data={"state": "excluded"})
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Say why the contribution is excluded." in html
    assert review_of(office, r) is None


def test_a_stale_review_is_refused_and_nothing_changes(office):
    r = rows(office)[0]
    analyst, coordinator = client_of(office), client_of(office, "amira")
    analyst.post(page_url(r) + "/review", data={"state": "approved"})
    seen = review_of(office, r).rev
    coordinator.post(page_url(r) + "/review", data={"state": "has_issues", "base_rev": seen})
    # The analyst's page still showed ``seen``: refused, the coordinator's state stays.
    response = analyst.post(
        page_url(r) + "/review", data={"state": "excluded", "reason": "other", "base_rev": seen}
    )
    html = analyst.get(response.headers["Location"]).get_data(as_text=True)
    assert "Someone else changed this record since you opened it." in html
    assert review_of(office, r).state == "has_issues"
    assert versions_of(office, "review", r) == 2
    # A page that showed no review at all, when one exists now, is stale too.
    response = analyst.post(page_url(r) + "/review", data={"state": "approved", "base_rev": ""})
    assert review_of(office, r).state == "has_issues"


def test_bulk_review_counts_then_asks_to_confirm_then_applies(office):
    client = client_of(office)
    every = rows(office)
    channel = every[0].channel
    matching = [r for r in every if r.channel == channel]
    data = {"scope": "all", "action": "approve", "channel": channel}
    confirm = client.post("/contributions/bulk", data=data)
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert f"You are about to mark {len(matching)} contributions as approved." in html
    assert all(review_of(office, r) is None for r in matching[:5])  # nothing yet
    done = client.post("/contributions/bulk", data={**data, "confirm": "1"})
    assert done.status_code == 302
    assert f"channel={channel}" in done.headers["Location"]
    assert all(review_of(office, r).state == "approved" for r in matching)
    other = next(r for r in every if r.channel != channel)
    assert review_of(office, other) is None
    listing = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"{len(matching)} contributions changed." in listing


def test_bulk_review_of_ticked_contributions_and_exclusion_needs_a_reason(office):
    client = client_of(office)
    picked = rows(office)[:3]
    keys = [r.key for r in picked]
    refused = client.post(
        "/contributions/bulk", data={"scope": "selected", "action": "exclude", "key": keys}
    )
    assert refused.status_code == 302
    assert all(review_of(office, r) is None for r in picked)
    data = {"scope": "selected", "action": "exclude", "reason": "off_topic", "key": keys}
    html = client.post("/contributions/bulk", data=data).get_data(as_text=True)
    assert "You are about to exclude 3 contributions." in html
    client.post("/contributions/bulk", data={**data, "confirm": "1"})
    assert all(review_of(office, r).reason == "off_topic" for r in picked)


def test_bulk_review_with_an_unknown_key_changes_nothing(office):
    client = client_of(office)
    good = rows(office)[0]
    data = {"scope": "selected", "action": "approve", "key": [good.key, "forged|key|x"]}
    client.post("/contributions/bulk", data={**data, "confirm": "1"})
    assert review_of(office, good) is None


def test_bulk_review_above_the_cap_is_refused_with_a_message(office, monkeypatch):
    monkeypatch.setattr(review, "BULK_CAP", 10)
    client = client_of(office)
    response = client.post(
        "/contributions/bulk", data={"scope": "all", "action": "approve", "confirm": "1"}
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "a bulk review can change at most 10 at once" in html
    assert review_of(office, rows(office)[0]) is None


# ---- codings ------------------------------------------------------------------------------------


def test_codes_are_applied_and_shown_with_their_colours(office):
    theme = make_code(office, "Services", colour="#2ca02c")
    sub = make_code(office, "Water", parent=theme, colour="#17becf")
    r = typed_rows(office)[0]
    client = client_of(office)
    page = client.get(page_url(r)).get_data(as_text=True)
    assert f'value="{theme}"' in page
    assert f'value="{sub}"' in page
    client.post(page_url(r) + "/codes", data={"code": [sub], "note": "wells", "base_rev": ""})
    with office.app_context():
        coding = review.coding_of(review.subject_of(r))
    assert coding.codes == (sub,)
    assert coding.note == "wells"
    html = client.get(page_url(r)).get_data(as_text=True)
    assert 'fill="#17becf"' in html
    assert "wells" in html
    listing = client.get(f"/contributions?code={sub}").get_data(as_text=True)
    assert "1 contribution matches." in listing
    assert 'fill="#17becf"' in listing
    # An empty set is saved as "coded, no code applies".
    client.post(page_url(r) + "/codes", data={"base_rev": coding.rev})
    with office.app_context():
        assert review.coding_of(review.subject_of(r)).codes == ()


def test_an_unknown_or_retired_code_is_refused_and_nothing_changes(office):
    retired = make_code(office, "Old theme", status="retired")
    r = typed_rows(office)[0]
    client = client_of(office)
    for bad in ("00000000-0000-4000-8000-000000000000", retired):
        response = client.post(page_url(r) + "/codes", data={"code": [bad], "base_rev": ""})
        html = client.get(response.headers["Location"]).get_data(as_text=True)
        assert f"“{bad}” is not an active code of the codebook." in html
        assert versions_of(office, "coding", r) == 0


def test_a_stale_coding_is_refused(office):
    code = make_code(office, "Security")
    r = typed_rows(office)[0]
    client = client_of(office)
    client.post(page_url(r) + "/codes", data={"code": [code], "base_rev": ""})
    response = client.post(page_url(r) + "/codes", data={"code": [], "base_rev": ""})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Someone else changed this record" in html
    with office.app_context():
        assert review.coding_of(review.subject_of(r)).codes == (code,)


# ---- roles --------------------------------------------------------------------------------------


def test_a_facilitator_cannot_set_states_but_codes_typed_answers_only(office):
    code = make_code(office, "Roads")
    typed, rating = typed_rows(office)[0], rating_row(office)
    client = client_of(office, "hawre")
    assert client.get("/contributions").status_code == 200
    page = client.get(page_url(typed)).get_data(as_text=True)
    assert "Save the review state" not in page
    assert "Save the codes" in page
    assert "Save the codes" not in client.get(page_url(rating)).get_data(as_text=True)
    for url in (page_url(typed) + "/review", page_url(typed) + "/duplicate", "/contributions/bulk"):
        assert client.post(url, data={"state": "approved", "action": "approve"}).status_code == 403
    assert review_of(office, typed) is None
    assert client.post(page_url(typed) + "/codes", data={"code": [code]}).status_code == 302
    assert versions_of(office, "coding", typed) == 1
    assert client.post(page_url(rating) + "/codes", data={"code": [code]}).status_code == 403
    assert versions_of(office, "coding", rating) == 0


def test_a_viewer_gets_403_everywhere(office):
    r = rows(office)[0]
    client = client_of(office, "dilan")
    assert client.get("/contributions").status_code == 403
    assert client.get(page_url(r)).status_code == 403
    for url in ("/review", "/duplicate", "/codes"):
        assert client.post(page_url(r) + url, data={"state": "approved"}).status_code == 403
    assert client.post("/contributions/bulk", data={"action": "approve"}).status_code == 403
    assert review_of(office, r) is None


def test_signed_out_visitors_are_sent_to_sign_in(office):
    assert office.test_client().get("/contributions").status_code == 302


# ---- a field laptop -----------------------------------------------------------------------------


def test_a_field_laptop_lists_its_own_submissions(tmp_path):
    from .sync_world import meeting_laptop

    folder, _code, question = meeting_laptop(tmp_path)
    with site(folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "hawre", Role.FACILITATOR)
        with app.app_context():
            head = records.current(question)
            consultation = json.loads(head.body)["consultation"]
            records.add_submission(consultation, {question: "نريد ماء نظيفاً"}, "ar", "kiosk", "k1")
        client = client_of(app, "hawre")
        html = client.get("/contributions").get_data(as_text=True)
        assert "نريد ماء نظيفاً" in html
        assert "1 contribution matches." in html


# ---- languages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_pages_read_right_to_left_in_arabic_and_sorani(office, lang):
    """Do the review pages read right to left, in the reader's words?"""
    r = rows(office)[0]
    client = client_of(office)
    set_language(client, lang)
    listing = client.get("/contributions").get_data(as_text=True)
    assert 'dir="rtl"' in listing
    assert translated(lang, "Filter the contributions") in listing
    assert translated(lang, "Review everything on this page") in listing
    page = client.get(page_url(r)).get_data(as_text=True)
    assert 'dir="rtl"' in page
    assert translated(lang, "The whole submission") in page
    assert translated(lang, "Save the review state") in page


# ---- possible duplicates ------------------------------------------------------------------------


def test_possible_duplicates_are_flagged_listed_and_one_is_excluded(tmp_path):
    """Nearly equal typed answers of one consultation are marked; one action excludes one."""
    from .sync_world import meeting_laptop

    folder, _code, question = meeting_laptop(tmp_path)
    with site(folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR)
        with app.app_context():
            consultation = json.loads(records.current(question).body)["consultation"]
            for key, text in (
                ("k1", "نريد ماء نظيفاً!!"),
                ("k2", "نريد  ماء نظيفا"),
                ("k3", "طريق"),
            ):
                records.add_submission(consultation, {question: text}, "ar", "spoken", key)
        client = client_of(app, "amira")
        listing = client.get("/contributions").get_data(as_text=True)
        assert listing.count("Possible duplicate (1 other)") == 2
        first, second = (r for r in rows(app) if r.text != "طريق")
        page = client.get(page_url(first)).get_data(as_text=True)
        assert page_url(second) in page
        assert f'action="{page_url(second)}/duplicate"' in page
        response = client.post(page_url(second) + "/duplicate", data={"back": first.key})
        assert response.headers["Location"].endswith(page_url(first))
        assert review_of(app, second).reason == "duplicate"
        assert review_of(app, first) is None
        # Its twin excluded, the first is no longer flagged: nothing is left to decide.
        assert "Possible duplicate" not in client.get("/contributions").get_data(as_text=True)


# ---- the browser: keyboard shortcuts ------------------------------------------------------------


@pytest.mark.browser
def test_j_and_k_walk_the_list_in_chromium_but_not_while_typing(office_folder, tmp_path):
    import shutil as _shutil

    from .serving import serving
    from .test_browser import CHROMIUM, chromium_page

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    folder = tmp_path / "served"
    _shutil.copytree(office_folder.folder, folder)
    with site(folder) as app:
        first, second = rows(app)[:2]
    with serving(folder) as url, chromium_page() as page:
        page.goto(url + "/login")
        page.fill("input[name=username]", "layla")
        page.fill("input[name=password]", "olive grove at dawn")
        page.click("button[type=submit]")
        page.goto(url + page_url(first))
        page.focus("textarea[name=note]")
        page.keyboard.press("j")
        assert page.url.endswith(page_url(first))
        page.locator("h1").click()
        page.keyboard.press("j")
        page.wait_for_url(f"**{page_url(second)}")
        page.keyboard.press("k")
        page.wait_for_url(f"**{page_url(first)}")


def test_reviewing_everything_on_the_page_and_a_forged_back_link(office):
    client = client_of(office)
    on_page = rows(office)[:50]
    data = {"scope": "page", "action": "has_issues", "page_key": [r.key for r in on_page]}
    html = client.post("/contributions/bulk", data=data).get_data(as_text=True)
    assert "You are about to mark 50 contributions as having issues." in html
    client.post("/contributions/bulk", data={**data, "confirm": "1"})
    assert all(review_of(office, r).state == "has_issues" for r in on_page)
    assert review_of(office, rows(office)[50]) is None
    other = rows(office)[60]
    response = client.post(page_url(other) + "/duplicate", data={"back": "no-bars-here"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(page_url(other))


def test_the_forms_work_with_csrf_protection_on_and_refuse_without_a_token(office_folder, tmp_path):
    import shutil as _shutil

    from .conftest import csrf_token

    folder = tmp_path / "csrf"
    _shutil.copytree(office_folder.folder, folder)
    with site(folder, WTF_CSRF_ENABLED=True, PASSWORD_HASH_METHOD=FAST) as app:
        r = rows(app)[0]
        client = app.test_client()
        token = csrf_token(client.get("/login").get_data(as_text=True))
        data = {"username": "layla", "password": "olive grove at dawn", "csrf_token": token}
        assert client.post("/login", data=data).status_code == 302
        refused = client.post(page_url(r) + "/review", data={"state": "approved"})
        assert refused.status_code == 400
        assert review_of(app, r) is None
        token = csrf_token(client.get(page_url(r)).get_data(as_text=True))
        saved = client.post(
            page_url(r) + "/review", data={"state": "approved", "csrf_token": token}
        )
        assert saved.status_code == 302
        assert review_of(app, r).state == "approved"


def test_a_large_count_is_shown_as_about(office, monkeypatch):
    from fieldapp.review import routes

    real = routes.query.count
    monkeypatch.setattr(routes.query, "count", lambda filters, cap=100: real(filters, cap=100))
    html = client_of(office).get("/contributions").get_data(as_text=True)
    assert "About 100+ contributions match." in html
    assert "Review everything that matches (more than 100)" in html


def test_search_finds_spelling_variants_together_with_a_filter(tmp_path):
    from .sync_world import meeting_laptop

    folder, _code, question = meeting_laptop(tmp_path)
    with site(folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR)
        with app.app_context():
            consultation = json.loads(records.current(question).body)["consultation"]
            for key, text, channel in (
                ("k1", "بيت علي قريب", "spoken"),
                ("k2", "علي في السوق", "paper"),
                ("k3", "فاطمة هنا", "spoken"),
            ):
                records.add_submission(consultation, {question: text}, "ar", channel, key)
        client = client_of(app, "amira")
        html = client.get("/contributions?q=علی&channel=spoken").get_data(as_text=True)
        assert "1 contribution matches." in html
        assert "بيت علي قريب" in html
        assert "علي في السوق" not in html
        assert 'value="علی"' in html  # the search box keeps the words
