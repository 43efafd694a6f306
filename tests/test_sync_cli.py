"""fieldapp export / merge / stats / demo-data from the command line, as head office uses them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from fieldapp.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def head_office_and_laptop(tmp_path, register: bool = True) -> tuple[str, str]:
    """A head office and a laptop that encrypts to it (registered there unless told not to)."""
    ho, laptop = str(tmp_path / "ho"), str(tmp_path / "laptop")
    assert run("--instance", ho, "init", "--role", "headoffice", "--name", "Erbil").exit_code == 0
    run("--instance", ho, "keys", "public", "--output", str(tmp_path / "ho.pub"))
    result = run(
        "--instance",
        laptop,
        "init",
        "--role",
        "field",
        "--name",
        "Duhok 3",
        "--headoffice-key",
        str(tmp_path / "ho.pub"),
    )
    assert result.exit_code == 0, result.output
    run("--instance", laptop, "keys", "public", "--output", str(tmp_path / "laptop.pub"))
    if register:
        assert run("--instance", ho, "devices", "add", str(tmp_path / "laptop.pub")).exit_code == 0
    return ho, laptop


def test_a_day_from_the_command_line(tmp_path):
    """Set up, fill, export, register, merge twice, compare digests: all with --json."""
    ho, laptop = head_office_and_laptop(tmp_path, register=False)
    result = run("--instance", laptop, "demo-data", "--consultations", "2", "--submissions", "30")
    assert result.exit_code == 0, result.output
    assert "submissions 30" in result.output

    exported = run("--instance", laptop, "export", "--output", str(tmp_path), "--json")
    assert exported.exit_code == 0, exported.output
    export = json.loads(exported.output)
    assert export["export_seq"] == 1
    assert export["counts"]["submission"] == 30

    refused = run("--instance", ho, "merge", export["path"], "--json")
    assert refused.exit_code == 1
    [file] = json.loads(refused.output)["files"]
    assert "fieldapp devices add" in file["error"]

    assert run("--instance", ho, "devices", "add", str(tmp_path / "laptop.pub")).exit_code == 0
    merged = run("--instance", ho, "merge", export["path"], export["path"], "--json")
    assert merged.exit_code == 0, merged.output
    first, second = json.loads(merged.output)["files"]
    assert first["new"] > 30
    assert second["already_merged"]

    stats_ho = json.loads(run("--instance", ho, "stats", "--json").output)
    stats_laptop = json.loads(run("--instance", laptop, "stats", "--json").output)
    assert stats_ho == stats_laptop
    assert stats_ho["counts"]["submissions"] == 30
    assert stats_ho["counts"]["consultations"] == 2


def test_human_readable_merge_summary_in_sorani(tmp_path):
    """Without --json the summary is sentences in the chosen language."""
    ho, laptop = head_office_and_laptop(tmp_path)
    run("--instance", laptop, "demo-data", "--submissions", "5")
    path = json.loads(run("--instance", laptop, "export", "--json").output)["path"]
    result = run("--instance", ho, "--lang", "ckb", "merge", path)
    assert result.exit_code == 0
    assert "Duhok 3" in result.output
    assert "new" not in result.output  # the sentence is Sorani, not English


def test_export_needs_keys(tmp_path):
    """An installation without an identity says what to do."""
    folder = str(tmp_path / "plain")
    run("--instance", folder, "init")
    result = run("--instance", folder, "export")
    assert result.exit_code == 1
    assert "fieldapp init --role" in result.output


def test_merge_needs_a_head_office(tmp_path):
    """A field laptop holds no decryption key, so it cannot merge."""
    _ho, laptop = head_office_and_laptop(tmp_path, register=False)
    path = json.loads(run("--instance", laptop, "export", "--json").output)["path"]
    result = run("--instance", laptop, "merge", path)
    assert result.exit_code == 1
    assert "no head-office decryption key" in result.output
