"""Adopting a rule table dropped into the watched folder as one journalled step.

The steps (keep the table in use as NAME_停用_时间, put the new one in its place) are written down first, in
a small journal file beside the rule table (``.NAME.adopting``, written whole or not at all). A watcher
killed anywhere in between finds it when the same file is processed again and finishes the same adoption:
one 停用 copy, never two, and a result that says the table was adopted, not "未做改动". The journal is
removed once the file's result is committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def journal_of(current: Path) -> Path:
    return current.with_name(f".{current.name}.adopting")


@dataclass
class Adoption:
    input_sha: str  # the dropped file's content
    kept: str | None  # the name the table in use is kept under (None: there was none)
    old_sha: str | None

    @property
    def as_json(self) -> str:
        return json.dumps({"input_sha": self.input_sha, "kept": self.kept, "old_sha": self.old_sha})


def pending(current: Path) -> Adoption | None:
    """The adoption a killed watcher left unfinished, if any."""
    try:
        data = json.loads(journal_of(current).read_text(encoding="utf-8"))
        return Adoption(data["input_sha"], data.get("kept"), data.get("old_sha"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_whole(path: Path, text: str) -> None:
    temp = path.with_name(f"{path.name}.tmp")
    with open(temp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)


def _copy_whole(source: Path, target: Path) -> None:
    """A copy that is complete under its name or not there at all."""
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copy2(source, temp)
    os.replace(temp, target)


def adopt(source: Path, current: Path, kept_name: str) -> tuple[str | None, bool]:
    """Make ``source`` the rule table at ``current``, the one in use kept as ``kept_name`` (beside it).

    Returns (the kept file's name or None, whether anything was adopted: False when ``current`` already
    holds these bytes and no adoption of them was left unfinished)."""
    input_sha = sha256(source)
    left = pending(current)
    if left is not None and left.input_sha != input_sha:  # another file's adoption, finished: its result was
        finished(current)  # committed (or it never got past its note, and the table in use is unchanged)
        left = None
    if left is None:
        old_sha = sha256(current) if current.exists() else None
        if old_sha == input_sha:
            return None, False
        left = Adoption(input_sha, kept_name if old_sha else None, old_sha)
        _write_whole(journal_of(current), left.as_json)
    kept = current.with_name(left.kept) if left.kept else None
    if kept is not None and not kept.exists() and current.exists() and sha256(current) == left.old_sha:
        _copy_whole(current, kept)
    if not current.exists() or sha256(current) != input_sha:
        _copy_whole(source, current)
    return (kept.name if kept is not None and kept.exists() else None), True


def finished(current: Path) -> None:
    """The adoption's result is committed: its journal is no longer needed."""
    journal_of(current).unlink(missing_ok=True)
