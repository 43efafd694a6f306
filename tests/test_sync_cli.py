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


def test_a_hostile_file_name_cannot_take_over_the_terminal(tmp_path):
    """Escape codes in a file name are shown, not obeyed: nothing raw reaches the terminal."""
    ho, _laptop = head_office_and_laptop(tmp_path)
    hostile = tmp_path / "from-duhok\x1b[2J\x1b]0;owned\x07\u202etxt\nmerged.fieldsync"
    hostile.write_bytes(b"not an export")
    result = run("--instance", ho, "merge", str(hostile))
    assert result.exit_code == 1
    assert "refused" in result.output
    assert "from-duhok\\x1b[2J\\x1b]0;owned\\x07\\u202etxt\\x0amerged.fieldsync" in result.output
    assert len(result.output.splitlines()) == 1  # the line break cannot start a line of its own
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in result.output
    as_json = run("--instance", ho, "merge", str(hostile), "--json")
    assert "\x1b" not in as_json.output
    assert "\u202e" not in as_json.output
    [file] = json.loads(as_json.output)["files"]
    assert file["file"] == hostile.name  # a program still gets the name exactly


def test_a_hostile_device_name_is_shown_harmlessly(tmp_path):
    """A laptop named with control codes is registered, and listed without them."""
    ho = str(tmp_path / "ho")
    assert run("--instance", ho, "init", "--role", "headoffice", "--name", "Erbil").exit_code == 0
    run("--instance", ho, "keys", "public", "--output", str(tmp_path / "ho.pub"))
    laptop = str(tmp_path / "laptop")
    name = "Duhok\x9b31m 3\x1b[2J"  # a C1 escape (CSI on some terminals) and a C0 one
    result = run(
        "--instance",
        laptop,
        "init",
        "--role",
        "field",
        "--name",
        name,
        "--headoffice-key",
        str(tmp_path / "ho.pub"),
    )
    assert result.exit_code == 0, result.output
    assert "Duhok\\x9b31m 3\\x1b[2J" in result.output
    run("--instance", laptop, "keys", "public", "--output", str(tmp_path / "laptop.pub"))
    for output in (
        run("--instance", ho, "devices", "add", str(tmp_path / "laptop.pub")).output,
        run("--instance", ho, "devices", "list").output,
    ):
        assert "\x9b" not in output
        assert "\x1b" not in output
        assert "Duhok\\x9b31m 3\\x1b[2J" in output
