#!/usr/bin/env python3
"""Fill the catalogues from translation files written while strings were being added.

    python scripts/apply_translations.py translations/pending/*.json

Each file is one JSON object: ``{msgid: {"ar": text, "ckb": text, "ku": text}}``; a plural
message is keyed by its singular msgid and gives, per language, a list of the forms its
catalogue needs (Arabic 6, Sorani and Kurmanji 2). Run ``sh scripts/i18n.sh`` first (so that
every msgid is in the catalogues), then this, then ``sh scripts/i18n.sh`` again to compile.
A msgid that no catalogue holds is reported, never added: it would be an obsolete entry.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).absolute().parent.parent
LANGS = ("ar", "ckb", "ku")


def main(paths: list[str]) -> int:
    """Apply every file of ``paths``; exit status 1 when a msgid or a language is missing."""
    wanted: dict[str, dict[str, object]] = {}
    for path in paths:
        wanted.update(json.loads(Path(path).read_text(encoding="utf-8")))
    status = 0
    for lang in LANGS:
        po_path = ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        by_singular = {(m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalog if m.id}
        for msgid, texts in wanted.items():
            message = by_singular.get(msgid)
            text = texts.get(lang)
            if message is None or text is None:
                print(f"{lang}: not applied: {msgid[:70]!r}", file=sys.stderr)
                status = 1
                continue
            message.string = tuple(text) if isinstance(text, list) else text
            message.flags.discard("fuzzy")
        with po_path.open("wb") as fh:
            write_po(fh, catalog, width=0, omit_header=False, ignore_obsolete=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
