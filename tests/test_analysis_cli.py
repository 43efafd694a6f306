"""``fieldapp analysis export`` and ``fieldapp analysis summary``: files, JSON and refusals."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner

from fieldapp.cli import cli
from fieldapp.services.analysis import exports

from .test_analysis_exports import build_office, submission_uuid

SUPPRESSED = re.compile(r"^<[0-9]+\Z")


@pytest.fixture(scope="module")
def office_folder(tmp_path_factory):
    return build_office(tmp_path_factory.mktemp("analysis-cli")).folder


@pytest.fixture
def folder(office_folder, tmp_path):
    """A fresh copy of the head office for one test (exports write to the activity log)."""
    import shutil

    copy = tmp_path / "ho"
    shutil.copytree(office_folder, copy)
    return copy


def run(folder, *args):
    return CliRunner().invoke(
        cli, ["--instance", str(folder), "analysis", *args], catch_exceptions=False
    )


def read_csv(path):
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def test_export_writes_the_csv_and_says_how_many_rows(folder, tmp_path):
    out = tmp_path / "all.csv"
    result = run(folder, "export", "--format", "csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert len(rows) == 44  # header and 43 submissions
    assert "43" in result.output
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_governorate_by_name_in_any_language_and_arabic_headers(folder, tmp_path):
    out = tmp_path / "ninewa.csv"
    result = run(
        folder,
        "export",
        "--format",
        "csv",
        "--output",
        str(out),
        "--lang",
        "ar",
        "--governorate",
        "نينوى",
        "--hxl",
        "--include-excluded",
    )
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert rows[1][0] == "#meta+id"
    assert "ما الذي يجب أن يتغير؟" in rows[0]
    ids = {r[0] for r in rows[2:]}
    assert submission_uuid("c003") in ids  # in Ninewa, its excluded answer asked for
    governorate = rows[0].index("المحافظة")
    assert {r[governorate] for r in rows[2:]} == {"نينوى"}
    for name in ("IQ-NI", "Ninewa", "نەینەوا"):
        again = tmp_path / "again.csv"
        result = run(
            folder, "export", "--format", "csv", "--output", str(again), "--governorate", name
        )
        assert result.exit_code == 0, result.output
        assert len(read_csv(again)) == len(rows) - 1


def test_xlsx_and_qdpx_from_the_command_line(folder, tmp_path):
    out = tmp_path / "all.xlsx"
    result = run(folder, "export", "--format", "xlsx", "--output", str(out), "--lang", "ckb")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] == b"PK"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--colour", "red"], "No such option"),
        (["--governorate", "Atlantis"], "Atlantis"),
        (["--since", "2026-02-30"], "2026-02-30"),
        (["--until", "yesterday"], "yesterday"),
        (["--format", "pdf"], "pdf"),
    ],
)
def test_export_refuses_unknown_options_and_values_with_exit_code_1(
    folder, tmp_path, args, message
):
    out = tmp_path / "refused.csv"
    base = ["export", "--format", "csv", "--output", str(out)]
    if "--format" in args:
        base = ["export", "--output", str(out)]
    result = run(folder, *base, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "ho"]


def test_a_failed_export_leaves_no_half_written_file(folder, tmp_path, monkeypatch):
    out = tmp_path / "kept.csv"
    out.write_bytes(b"the file from yesterday")

    def broken(request, stream):
        stream.write(b"half a file")
        raise exports.ExportRefused("the disk is full")

    monkeypatch.setattr(exports, "write", broken)
    result = run(folder, "export", "--format", "csv", "--output", str(out))
    assert result.exit_code == 1, result.output
    assert out.read_bytes() == b"the file from yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ho", "kept.csv"]


def test_summary_json_has_counts_only_and_suppressed_strings(folder):
    result = run(folder, "summary", "--json", "--min-count", "40")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["min_count"] == 40
    assert {"name", "title", "columns", "rows"} <= set(data["tables"][0])
    cells = [c for t in data["tables"] for r in t["rows"] for c in r["cells"]]
    assert cells
    assert all(type(c) is int or SUPPRESSED.match(c) for c in cells)
    assert "<40" in cells  # small counts are withheld, as the string "<K"
    assert not [c for c in cells if type(c) is int and 1 <= c < 40]


def test_summary_takes_the_filters_and_the_language(folder):
    result = run(folder, "summary", "--json", "--governorate", "Ninewa", "--lang", "ar")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["min_count"] == 5
    assert any(re.search("[\u0600-\u06ff]", t["title"]) for t in data["tables"])


@pytest.mark.parametrize(
    "args",
    [
        ["--min-count", "1"],
        ["--min-count", "five"],
        ["--governorate", "Atlantis"],
        ["--since", "2026-13-01"],
        ["--bogus"],
    ],
)
def test_summary_refuses_bad_options_with_exit_code_1(folder, args):
    result = run(folder, "summary", "--json", *args)
    assert result.exit_code == 1, result.output
    assert not result.output.lstrip().startswith("{")
