"""Charts drawn on the server as SVG: well formed, mirrored in RTL, never leaking a small count."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from flask import Flask, render_template_string

from fieldapp.services.analysis import charts
from fieldapp.services.analysis.tables import Row, Suppressed, Table

NS = {"s": "http://www.w3.org/2000/svg"}
HOSTILE = '"><script>alert(1)</script>'


def codes_table(colour: str | None = None) -> Table:
    """Three codes counted, one of them suppressed, one with a hostile name."""
    return Table(
        "codes",
        "Contributions per code",
        ("Women", "Men"),
        (
            Row("Roads", (40, 12), key="c1", colour=colour),
            Row("Health", (20, 8), key="c2"),
            Row(HOSTILE, (Suppressed(5), 6), key="c3"),
        ),
        published=True,
    )


@pytest.fixture
def ctx(app: Flask):
    """A request context with the charts' filter."""
    charts.init_app(app)
    with app.test_request_context():
        yield app


def parse(svg: str) -> ET.Element:
    """The SVG as XML (fails when it is not well formed)."""
    return ET.fromstring(str(svg))  # noqa: S314 -- our own output, parsed to prove it is XML


def bars(root: ET.Element) -> list[ET.Element]:
    """The bar rects, in row order."""
    return root.findall(".//s:g[@class='bar']/s:rect", NS)


def test_bars_are_well_formed_titled_and_proportional(ctx) -> None:
    """Does a bar chart have its title, description and widths in proportion to the counts?"""
    root = parse(charts.bar_chart(codes_table(), locale="en", direction="ltr"))
    assert root.get("role") == "img"
    assert "width" not in root.attrib
    assert root.get("viewBox", "").startswith("0 0 ")
    title = root.find("s:title", NS)
    desc = root.find("s:desc", NS)
    assert title is not None
    assert "Contributions per code" in (title.text or "")
    assert desc is not None
    assert "Roads: 40" in (desc.text or "")
    assert "withheld (fewer than 5," in (desc.text or "")
    ids = root.get("aria-labelledby", "").split()
    assert ids == [title.get("id"), desc.get("id")]
    widths = [float(rect.get("width", "")) for rect in bars(root)]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert widths[2] == 0  # suppressed: no length at all
    texts = [t.text for t in root.findall(".//s:text[@class='value']", NS)]
    assert texts == ["40", "20", "<5"]


def test_rtl_mirrors_bars_and_labels(ctx) -> None:
    """In Arabic do the bars grow from the right edge, with the labels on the right?"""
    ltr = parse(charts.bar_chart(codes_table(), locale="ar_IQ", direction="ltr"))
    rtl = parse(charts.bar_chart(codes_table(), locale="ar_IQ", direction="rtl"))
    long_ltr, long_rtl = bars(ltr)[0], bars(rtl)[0]
    end_rtl = float(long_rtl.get("x", "")) + float(long_rtl.get("width", ""))
    assert end_rtl == pytest.approx(charts.WIDTH - float(long_ltr.get("x", "")))
    assert end_rtl > float(long_ltr.get("x", ""))  # the bar grows from the right edge
    assert float(long_rtl.get("x", "")) < float(long_ltr.get("x", ""))
    label = rtl.find(".//s:text[@class='label']", NS)
    assert label is not None
    assert label.get("direction") == "rtl"
    assert float(label.get("x", "")) > charts.WIDTH / 2


def test_hostile_labels_stay_text(ctx) -> None:
    """Can a participant's words or a code's name inject markup? They must stay text."""
    svg = str(charts.bar_chart(codes_table(), locale="en", direction="ltr"))
    assert "<script" not in svg
    assert "&#34;&gt;&lt;script&gt;" in svg
    root = parse(svg)
    assert root.find(".//s:script", NS) is None
    labels = [t.find("s:title", NS).text for t in root.findall(".//s:text[@class='label']", NS)]
    assert labels[2] == HOSTILE
    page = render_template_string(
        '{% from "analysis/_chart.html" import chart %}{{ chart(t, svg) }}',
        t=codes_table(),
        svg=charts.bar_chart(codes_table(), locale="en", direction="ltr"),
    )
    assert "<script>" not in page


@pytest.mark.parametrize(
    ("locale", "digits"),
    [("ar_IQ", "1,240"), ("ckb_IQ", "1,240"), ("ku", "1.240"), ("en", "1,240")],
)
def test_digits_agree_between_chart_desc_and_table(ctx, locale: str, digits: str) -> None:
    """Are numbers written the locale's way, the same in the bars, the description and the table?"""
    table = codes_table()
    table = table.with_cells([[1240, 12], [20, 8], [Suppressed(5), 6]], published=True)
    svg = charts.bar_chart(table, locale=locale, direction="rtl")
    root = parse(svg)
    value = root.find(".//s:text[@class='value']", NS)
    desc = root.find("s:desc", NS)
    assert value is not None
    assert value.text == digits
    assert desc is not None
    assert digits in (desc.text or "")
    page = render_template_string(
        '{% from "analysis/_chart.html" import chart %}{{ chart(t, svg, locale) }}',
        t=table,
        svg=svg,
        locale=locale,
    )
    assert f"<td>{digits}</td>" in page
    assert "&lt;5</abbr>" in page


def test_custom_colour_used_and_bad_colour_refused(ctx) -> None:
    """Is a code's colour used, and is anything but #rrggbb refused for the palette?"""
    root = parse(charts.bar_chart(codes_table("#AA3377"), locale="en", direction="ltr"))
    assert bars(root)[0].get("fill") == "#aa3377"
    hostile = 'red" onload="alert(1)'
    svg = charts.bar_chart(codes_table(hostile), locale="en", direction="ltr")
    assert "onload" not in str(svg)
    assert bars(parse(svg))[0].get("fill") == charts.PALETTE[0]
    assert charts.safe_colour("#12345", "#000000") == "#000000"


def test_stacked_and_line_charts(ctx) -> None:
    """Do stacked bars keep a suppressed segment at zero, and lines leave a gap for it?"""
    root = parse(charts.bar_chart(codes_table(), locale="en", direction="ltr", stacked=True))
    rects = bars(root)
    assert len(rects) == 6
    assert float(rects[4].get("width", "")) == 0
    assert rects[0].get("fill", "").startswith("url(#")
    months = Table(
        "months",
        "Participation per month",
        ("Women", "Men"),
        (
            Row("2026-09", (10, 4)),
            Row("2026-10", (Suppressed(5), 9)),
            Row("2026-11", (15, 11)),
        ),
    )
    line = parse(charts.line_chart(months, locale="ckb_IQ", direction="rtl"))
    assert not line.findall(".//s:polyline[@data-column='0']", NS)  # a gap, not a line through
    assert len(line.findall(".//s:polyline[@data-column='1']", NS)) == 1
    assert "<5" in [t.text for t in line.findall(".//s:text[@class='suppressed']", NS)]


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed")
def test_screenshots_arabic_and_sorani(ctx, tmp_path: Path) -> None:
    """Screenshots of an Arabic and a Sorani chart (looked at by a person)."""
    from playwright.sync_api import sync_playwright

    from .test_browser import LAUNCH_ARGS

    shots = Path("/tmp/shots")
    shots.mkdir(exist_ok=True)
    labels = {
        "ar": ("الطرق", "الصحة", "النساء", "الرجال", "المساهمات حسب الرمز"),
        "ckb": ("ڕێگاوبان", "تەندروستی", "ئافرەتان", "پیاوان", "بەشدارییەکان بەپێی کۆد"),
    }
    css = Path("fieldapp/static/css/app.css").resolve().as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 900})
        for lang, locale in (("ar", "ar_IQ"), ("ckb", "ckb_IQ")):
            a, b, women, men, title = labels[lang]
            table = Table(
                "codes",
                title,
                (women, men),
                (
                    Row(a, (1240, 12), colour="#aa3377"),
                    Row(b, (20, 8)),
                    Row(HOSTILE, (Suppressed(5), 6)),
                ),
            )
            body = render_template_string(
                '{% from "analysis/_chart.html" import chart %}'
                "{{ chart(t, one, locale) }}{{ chart(t, two, locale) }}",
                t=table,
                one=charts.bar_chart(table, locale=locale, direction="rtl"),
                two=charts.bar_chart(table, locale=locale, direction="rtl", stacked=True),
                locale=locale,
            )
            html = tmp_path / f"{lang}.html"
            html.write_text(
                f'<!doctype html><html lang="{lang}" dir="rtl"><head><meta charset="utf-8">'
                f'<link rel="stylesheet" href="{css}"></head>'
                f"<body><main>{body}</main></body></html>",
                encoding="utf-8",
            )
            page.goto(html.as_uri())
            page.screenshot(path=str(shots / f"chart-{lang}.png"), full_page=True)
        browser.close()
