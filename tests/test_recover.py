"""``fieldapp --instance NEW recover DAMAGED``: what a damaged database still holds, copied out.

A laptop with data is copied and one b-tree page of the copy's submissions table is overwritten
(tests/damage.py, as in test_damaged_database.py). Recovering it into a new folder gives an
installation that starts normally, holds every submission but those of the damaged page (which
the command reports as lost), and whose export merges at head office.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fieldapp.cli import cli
from fieldapp.config import DATABASE_FILE, SECRET_KEY_FILE
from fieldapp.extensions import db
from fieldapp.models import DeviceRole
from fieldapp.services import backup, contributions, demo, health
from fieldapp.services.sync import keys

from .damage import corrupt, leaf_page_of
from .sync_world import Installation, clone, opened, site


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The damaged page: the second leaf of the submissions table, so that rows before and after it
# are on sound pages (a build that gives up at the first damaged page loses those after it).
CHILD = 1


def _rows_on_page(database: Path, table: str) -> int:
    """How many rows the leaf page :func:`corrupt` overwrites holds (its cell count)."""
    page, page_size = leaf_page_of(database, table, CHILD)
    with database.open("rb") as fh:
        fh.seek((page - 1) * page_size)
        header = fh.read(8)
    assert header[0] == 0x0D  # a table leaf page
    (cells,) = struct.unpack(">H", header[3:5])
    return int(cells)


def _recover(target: Path, source: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["--instance", str(target), "recover", str(source), *extra])


def _stats(folder: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["--instance", str(folder), "stats", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Head office, a laptop with 120 submissions and an export merged, and a damaged copy."""
    root = tmp_path_factory.mktemp("recover")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        demo.fill(consultations=1, submissions=120, seed=3)
    files = root / "files"
    files.mkdir()
    assert ho.merge(laptop.export(files))[0].ok  # export 1, merged
    with laptop.session():
        demo.fill(consultations=1, submissions=30, seed=4)  # entered after the last export
        db.session.remove()
    original = _stats(laptop.folder)
    damaged = clone(laptop, root / "damaged")
    database = damaged.folder / DATABASE_FILE
    assert not (damaged.folder / (DATABASE_FILE + "-wal")).exists()
    on_page = _rows_on_page(database, "submission")
    corrupt(database, "submission", CHILD)
    assert health.quick_check(database), "quick_check must notice the damage"
    return {
        "root": root,
        "ho": ho,
        "laptop": laptop,
        "damaged": damaged,
        "files": files,
        "original": original,
        "on_page": on_page,
    }


def test_a_damaged_laptop_is_recovered_into_a_new_folder(world: dict[str, Any]) -> None:
    """Exit 1 with the rows lost named; the new folder starts normally, holds the rest, and its
    export merges at head office; the damaged file is not changed."""
    damaged: Installation = world["damaged"]
    database = damaged.folder / DATABASE_FILE
    before = _sha(database)
    target = world["root"] / "recovered"
    result = _recover(target, damaged.folder)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lost = world["on_page"]
    assert f"{lost} rows could not be read and are lost" in result.output
    assert f"In all {lost} rows could not be read" in result.output
    assert "contribution: not copied, rebuilt" in result.output
    assert f"--instance {target} serve" in result.output
    assert _sha(database) == before  # read only

    # The new folder: a sound database, the same identity, the settings not live.
    assert health.quick_check(target / DATABASE_FILE) == []
    assert (target / SECRET_KEY_FILE).read_bytes() == (
        damaged.folder / SECRET_KEY_FILE
    ).read_bytes()
    assert (target / backup.RESTORED_SETTINGS).is_file()
    with site(target) as app:
        assert not health.is_damaged(app)
        assert app.test_client().get("/login").status_code in (200, 302)
    stats = _stats(target)
    original = world["original"]
    assert stats["counts"]["submissions"] == original["counts"]["submissions"] - lost
    assert stats["counts"]["consultations"] == original["counts"]["consultations"]
    assert stats["counts"]["questions"] == original["counts"]["questions"]
    with opened(target):
        device = keys.self_device()
        assert device is not None
        assert device.device_id == world["laptop"].public.device_id
        # The read model was rebuilt from what was copied.
        rebuilt = contributions.snapshot()
        contributions.rebuild()
        assert rebuilt
        assert contributions.snapshot() == rebuilt
        floor = backup.export_seq_floor()
    assert floor >= 1 + backup.EXPORT_SEQ_JUMP

    # Export from the new folder: numbered above the floor, merged at head office.
    recovered = clone(world["laptop"], world["root"] / "recovered-clone")
    shutil.rmtree(recovered.folder)
    recovered.folder = target
    bundle = recovered.export(world["files"])
    ho: Installation = world["ho"]
    summary = ho.merge(bundle)[0]
    assert summary.ok, summary
    assert summary.export_seq == floor + 1
    assert ho.stats()["counts"]["submissions"] >= stats["counts"]["submissions"]


def test_json_reports_each_table(world: dict[str, Any]) -> None:
    """--json: one object with copied and lost per table; exit 1 all the same."""
    result = _recover(world["root"] / "recovered-json", world["damaged"].folder, "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["complete"] is False
    assert data["rows_lost"] == world["on_page"]
    tables = {t["name"]: t for t in data["tables"]}
    assert tables["submission"]["lost"] == world["on_page"]
    assert (
        tables["submission"]["copied"]
        == world["original"]["counts"]["submissions"] - (world["on_page"])
    )
    assert tables["record_version"]["lost"] == 0
    assert tables["contribution"]["skipped"] == "rebuilt"


def test_a_sound_installation_recovers_with_nothing_lost(world: dict[str, Any]) -> None:
    """Exit 0, the same stats digest, and the export numbering jumps as after a restore."""
    laptop: Installation = world["laptop"]
    target = world["root"] / "recovered-sound"
    result = _recover(target, laptop.folder)
    assert result.exit_code == 0, result.output
    assert "nothing was lost" in result.output
    assert _stats(target) == world["original"]
    with opened(target):
        assert backup.export_seq_floor() - 1 > backup.EXPORT_SEQ_JUMP
        assert backup.export_seq_floor() < 1 + backup.EXPORT_SEQ_JUMP + backup.EXPORT_SEQ_RANDOM


def test_the_damaged_page_and_refusal_name_recover_first(world: dict[str, Any]) -> None:
    """The page every visitor sees and a refused command say "recover", then "restore"."""
    damaged = world["damaged"].folder
    with site(damaged) as app:
        page = app.test_client().get("/").get_data(as_text=True)
    assert "recover" in page
    assert "restore" in page
    assert page.index("recover DAMAGED-FOLDER") < page.index("restore BACKUP-FILE")
    refused = CliRunner().invoke(cli, ["--instance", str(damaged), "export"])
    assert refused.exit_code == 2
    assert "recover" in refused.output


def test_bad_inputs_exit_1_without_traceback(world: dict[str, Any], tmp_path: Path) -> None:
    """A folder that is no installation, a new folder that is not empty, PostgreSQL."""
    damaged = world["damaged"].folder
    empty = tmp_path / "empty"
    empty.mkdir()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine", encoding="utf-8")
    postgres = tmp_path / "postgres"
    postgres.mkdir()
    (postgres / SECRET_KEY_FILE).write_text("a" * 64 + "\n", encoding="ascii")
    (postgres / "config.py").write_text(
        'SQLALCHEMY_DATABASE_URI = "postgresql://fieldapp@127.0.0.1/fieldapp"\n', encoding="utf-8"
    )
    cases = (
        (tmp_path / "new1", empty, "not a fieldapp installation"),
        (tmp_path / "new2", tmp_path / "missing", "not a fieldapp installation"),
        (occupied, damaged, "is not empty"),
        (tmp_path / "new3", postgres, "PostgreSQL"),
        (damaged / "inside", damaged, "outside"),
    )
    for target, source, says in cases:
        result = _recover(target, source)
        assert result.exit_code == 1, (source, result.output)
        assert says in result.output, result.output
        assert "Traceback" not in result.output
        assert not (target.exists() and target != occupied), target
    assert (occupied / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
