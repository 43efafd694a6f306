#!/usr/bin/env python3
"""Build fieldapp/static/dist/: content-hashed copies of the static files, precompressed.

After changing a file under fieldapp/static, run scripts/build_static.py.

    python scripts/build_static.py            # rebuild fieldapp/static/dist/ (committed)
    python scripts/build_static.py --check    # exit 1 if the committed build is stale

Every file under ``fieldapp/static`` (but ``dist/`` itself) is copied to ``dist/`` under a
name that carries the first 12 hex digits of the SHA-256 of its content (stylesheets without
their comments, but for ``/*! licence */`` ones): ``css/app.css`` ->
``css/app.0123456789ab.css``; ``dist/staticfiles.json`` (the manifest) maps each name to
its hashed name. ``url_for("static", ...)`` gives the hashed address (fieldapp/staticfiles.py),
which is served with ``Cache-Control: immutable`` for years: a phone downloads each file once
per release. Stylesheets refer to fonts and other files by ``url()``: those references are
rewritten to the hashed names first, so a stylesheet's own hash changes when a font it names
changes (as Django's ManifestStaticFilesStorage does). Text files also get ``.gz`` (gzip -9)
and ``.br`` (brotli, quality 11) beside them when that saves at least 5 % (never for woff2,
png or ico, which are compressed already); WhiteNoise sends the one the browser accepts.

The output depends only on the input files: the same bytes on every machine (gzip without a
time stamp; brotli and zlib of other versions could compress differently, so ``--check``
compares the compressed files by what they decompress to). The build is committed, so that a
fresh checkout or a Windows laptop serves it without a build step.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import posixpath
import re
import shutil
import sys
import tempfile
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "fieldapp" / "static"
DIST_NAME = "dist"
MANIFEST_NAME = "staticfiles.json"
HASH_LENGTH = 12
# Already compressed formats: gzip or brotli would only add bytes and CPU time.
NOT_COMPRESSED = frozenset({".woff2", ".woff", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico"})
MIN_SAVING = 0.05
# url("..."), url('...') and url(...) in a stylesheet.
CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^'")\s]+))\s*\)""")
# A quoted string (kept as it is), or a comment other than a /*! licence */ (dropped).
CSS_COMMENT = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|/\*(?!!).*?\*/""", re.S)


class BuildError(Exception):
    """A stylesheet names a file that does not exist, or stylesheets name each other in a loop."""


def source_files(static: Path) -> list[str]:
    """Every file to build, as a POSIX path relative to ``static``, in a stable order."""
    found = []
    for path in static.rglob("*"):
        relative = path.relative_to(static)
        if relative.parts[0] == DIST_NAME or not path.is_file():
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue
        found.append(relative.as_posix())
    return sorted(found)


def hashed_name(name: str, content: bytes) -> str:
    """``css/app.css`` -> ``css/app.<12 hex digits of the SHA-256 of content>.css``."""
    directory, base = posixpath.split(name)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    new = f"{stem}.{digest}.{suffix}" if dot else f"{stem}.{digest}"
    return posixpath.join(directory, new) if directory else new


def strip_comments(css: str) -> str:
    """A stylesheet without its comments (which are for its readers: 20-25 % of our own
    stylesheets' compressed bytes), but for ``/*! ... */`` licence notices."""
    return CSS_COMMENT.sub(lambda match: match.group(1) or "", css)


def _is_local(url: str) -> bool:
    """A relative reference to another static file (not data:, not another host or page)."""
    return bool(url) and not re.match(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|/|#)", url)


class Builder:
    """Hashes files, rewriting stylesheets' references first (each file once)."""

    def __init__(self, static: Path) -> None:
        self.static = static
        self.names = set(source_files(static))
        self.manifest: dict[str, str] = {}
        self.contents: dict[str, bytes] = {}
        self._busy: set[str] = set()

    def build(self, name: str) -> str:
        """The hashed name of ``name``, building the files it refers to first."""
        if name in self.manifest:
            return self.manifest[name]
        if name in self._busy:
            raise BuildError(f"{name}: stylesheets refer to each other in a loop")
        self._busy.add(name)
        content = (self.static / name).read_bytes()
        if name.endswith(".css"):
            content = self._rewrite_css(name, strip_comments(content.decode("utf-8")))
        self._busy.discard(name)
        hashed = hashed_name(name, content)
        self.manifest[name] = hashed
        self.contents[hashed] = content
        return hashed

    def _rewrite_css(self, name: str, text: str) -> bytes:
        """Point every ``url()`` of a stylesheet at the hashed name of the file it names."""
        directory = posixpath.dirname(name)

        def replace(match: re.Match[str]) -> str:
            url = next(group for group in match.groups() if group is not None)
            if not _is_local(url):
                return match.group(0)
            path, suffix = re.match(r"([^?#]*)(.*)", url, re.S).groups()  # type: ignore[union-attr]
            target = posixpath.normpath(posixpath.join(directory, path))
            if target not in self.names:
                raise BuildError(f"{name}: url({url}) names no file under fieldapp/static")
            relative = posixpath.relpath(self.build(target), directory or ".")
            return f'url("{relative}{suffix}")'

        return CSS_URL.sub(replace, text).encode("utf-8")


def compressed(name: str, content: bytes) -> dict[str, bytes]:
    """``{".gz": ..., ".br": ...}`` for the encodings that save at least ``MIN_SAVING``."""
    if posixpath.splitext(name)[1].lower() in NOT_COMPRESSED or not content:
        return {}
    variants = {
        ".gz": gzip.compress(content, compresslevel=9, mtime=0),
        ".br": brotli.compress(content, quality=11),
    }
    return {
        suffix: data
        for suffix, data in variants.items()
        if len(data) <= len(content) * (1 - MIN_SAVING)
    }


def build(static: Path, out: Path) -> dict[str, str]:
    """Write the hashed (and compressed) files and the manifest into ``out``; the manifest."""
    builder = Builder(static)
    for name in sorted(builder.names):
        builder.build(name)
    out.mkdir(parents=True, exist_ok=True)
    for hashed, content in sorted(builder.contents.items()):
        target = out / hashed
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        for suffix, data in compressed(hashed, content).items():
            (out / (hashed + suffix)).write_bytes(data)
    manifest = {"version": 1, "paths": dict(sorted(builder.manifest.items()))}
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (out / MANIFEST_NAME).write_text(text, encoding="utf-8", newline="\n")
    return builder.manifest


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}


def _decompressed(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".br":
        return bytes(brotli.decompress(data))
    return data


def differences(built: Path, committed: Path) -> list[str]:
    """What differs between a fresh build and the committed one (empty when current).

    Compressed files are compared by what they decompress to, so that another version of
    zlib or brotli, which may compress the same bytes differently, does not count as stale.
    """
    fresh, old = _files(built), _files(committed)
    found = [f"missing: {name}" for name in sorted(fresh.keys() - old.keys())]
    found += [f"not built any more: {name}" for name in sorted(old.keys() - fresh.keys())]
    for name in sorted(fresh.keys() & old.keys()):
        if _decompressed(fresh[name]) != _decompressed(old[name]):
            found.append(f"differs: {name}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Rebuild ``fieldapp/static/dist`` (or ``--out``), or ``--check`` it against a rebuild."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with a rebuild, write nothing"
    )
    parser.add_argument("--static", type=Path, default=STATIC, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    static: Path = args.static.resolve()
    dist = static / DIST_NAME
    with tempfile.TemporaryDirectory() as temporary:
        fresh = Path(temporary) / DIST_NAME
        try:
            manifest = build(static, fresh)
        except BuildError as error:
            print(f"build_static: {error}", file=sys.stderr)  # noqa: T201 -- a build script
            return 1
        if args.check:
            found = differences(fresh, dist)
            for line in found:
                print(line, file=sys.stderr)  # noqa: T201
            if found:
                print("fieldapp/static/dist is stale: run scripts/build_static.py", file=sys.stderr)  # noqa: T201
            return 1 if found else 0
        if dist.exists():
            shutil.rmtree(dist)
        shutil.copytree(fresh, dist)
    total = sum(p.stat().st_size for p in _files(dist).values())
    print(f"{dist.relative_to(ROOT)}: {len(manifest)} files, {total} bytes")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
