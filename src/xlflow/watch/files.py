"""The watched workspace's folders, names and files: what is ignored, when a copy is complete, unique
names, moves and whole-or-absent text files, and log lines with IDs masked."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from xlflow.app.workspace import IMPORT_FOLDERS
from xlflow.domain.idcard import mask_in_text
from xlflow.errors import XlflowError
from xlflow.io import adopting
from xlflow.io.settings import SETTINGS_FILE, Settings, load_settings

# .et / .ett: WPS's own names; what WPS writes under them is mostly an .xls inside (read as one), else F01 says
# how to save it as .xlsx.
SUPPORTED = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".txt", ".tsv", ".htm", ".html", ".xml", ".et", ".ett")


IGNORED_PREFIXES = ("~$", ".~lock", ".", "~")  # Excel/WPS and LibreOffice lock files, hidden files


IGNORED_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", "~", "#")
IGNORED_NAMES = ("thumbs.db", "desktop.ini", "ehthumbs.db")  # what Windows Explorer leaves in a shared folder


LOG_FILE = "xlflow.log"


LOCK_FILE = ".xlflow-watch.lock"



class WatchError(XlflowError):
    """The watcher cannot start (not a workspace, another watcher running, unusable rule table)."""


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")



def mask_ids(text: str) -> str:
    """A log or console line: ID numbers masked (430124********1234) however they are written, and control
    characters shown as escapes, so a file name with a line break cannot forge a line of the log."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 256
                        else f"\\u{ord(m.group(0)):04x}", text)
    return mask_in_text(text)


_sha256 = adopting.sha256  # one way to hash a file



def _stamp(now: dt.datetime) -> str:
    return now.strftime("%Y%m%d-%H%M%S")



def _unique(path: Path, stamp: str, taken: set[Path] = frozenset(), folder: bool = False) -> Path:
    """``path`` itself if free, else NAME_时间(.ext), then NAME_时间_2 ... (a result folder, already named
    NAME_时间: NAME_时间_2 ...): nothing is ever overwritten."""
    if not path.exists() and path not in taken:
        return path
    stem, suffix = (path.name, "") if folder else (f"{path.stem}_{stamp}", path.suffix)
    for n in range(1 if not folder else 2, 10_000):
        candidate = path.with_name(f"{stem}{'' if n == 1 else f'_{n}'}{suffix}")
        if not candidate.exists() and candidate not in taken:
            return candidate
    raise WatchError(f"无法为 {path} 找到不重名的文件名")



def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError:  # another file system: copy, then remove
        shutil.copy2(source, target)
        source.unlink()



def _write_text(path: Path, text: str) -> None:
    """Write under a hidden temporary name, then rename: the file is whole or absent."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8-sig")  # with a BOM: Notepad on an old Windows reads it right
    os.replace(temp, path)



def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept by the OS as surrogates
        return False
    return True



def _container(path: Path) -> str | None:
    """'zip' or 'ole' for a file with an end to check for; None for text (HTML, XML, CSV: no end marker)."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError:
        return None
    return {b"PK\x03\x04": "zip", b"\xd0\xcf\x11\xe0": "ole"}.get(magic)



def _whole_compound_file(path: Path) -> bool:
    """A legacy .xls whose sectors are all there: a partial copy ends before the sectors its FAT names."""
    from xlflow.io import xlsbiff

    try:
        data = path.read_bytes()
        if not data.startswith(xlsbiff._SIGNATURE):
            return True  # not a compound file at all: the reader says what it is
        return bool(xlsbiff._stream(data, "Workbook") or xlsbiff._stream(data, "Book"))
    except (OSError, xlsbiff._Bad, ValueError, IndexError, struct.error):
        return False



def ignored(name: str) -> bool:
    return (name.startswith(IGNORED_PREFIXES) or name.lower().endswith(IGNORED_SUFFIXES)
            or name.lower() in IGNORED_NAMES)



def _hidden(path: Path) -> bool:
    attrs = getattr(os.stat(path), "st_file_attributes", 0)  # Windows: the hidden attribute
    return bool(attrs & 2)



@dataclass
class Workspace:
    root: Path
    settings: Settings
    inbox: Path = field(init=False)
    results: Path = field(init=False)
    archive: Path = field(init=False)
    failed: Path = field(init=False)
    rules: Path = field(init=False)
    ledger: Path = field(init=False)

    def __post_init__(self) -> None:
        for name in ("inbox", "results", "archive", "failed", "rules", "ledger"):  # named in the settings
            setattr(self, name, self.root / getattr(self.settings, name))

    @classmethod
    def load(cls, root: Path) -> Workspace:
        root = Path(root)
        if not (root / SETTINGS_FILE).exists():
            raise WatchError(f"{root} 不是 xlflow 工作目录（没有 {SETTINGS_FILE}）。请先运行 xlflow init {root}。")
        return cls(root, load_settings(root))

    def make_folders(self) -> None:
        for path in (self.inbox, self.results, self.archive, self.failed):
            path.mkdir(parents=True, exist_ok=True)
        for name in IMPORT_FOLDERS:
            (self.inbox / name).mkdir(exist_ok=True)



def _partial(result_dir: Path) -> Path:
    return result_dir.with_name(f".{result_dir.name}.partial")
