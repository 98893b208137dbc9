"""Where the data shipped with xlflow lives: inside the wheel, or at the top of a source checkout."""

import re
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name`` (workbook_templates, validators, examples) of this installation."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"xlflow data folder {name!r} is missing from this installation")


def example_rules() -> Path:
    """The bundled example rule table, used when no --rules is given."""
    return data_dir("examples") / "征缴规则表.xlsx"


NAME_BYTES = 180  # a stem's room in a result name: 255 bytes a name, less what xlflow adds (_错误数据_时间_2.xlsx)


def fit_stem(stem: str, limit: int = NAME_BYTES) -> str:
    """``stem`` as it is when it fits ``limit`` UTF-8 bytes, else its start and a short hash of the whole
    (two long names that share a start stay apart). A name that is not valid UTF-8 (a file copied from
    an old share) is read with � for the bytes that are not characters."""
    import hashlib

    text = stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    raw = text.encode("utf-8")
    if len(raw) <= limit and text == stem:
        return stem
    tag = "~" + hashlib.sha1(stem.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    cut = raw[: limit - len(tag)].decode("utf-8", "ignore")
    return cut + tag if len(raw) > limit else text


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def file_safe(name: str) -> str:
    """A township's (or a sheet's) name as part of a file name on every file system we run on (雨湖区/城正街街道)."""
    return _UNSAFE.sub("_", name).strip(" .") or "_"
