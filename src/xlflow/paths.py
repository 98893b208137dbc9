"""Where the data shipped with xlflow lives: inside the wheel, or at the top of a source checkout."""

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
