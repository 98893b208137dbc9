"""Template workbooks built from the specs in workbook_templates/."""

from xlflow.templates.build import build_template

__all__ = ["build_template"]
