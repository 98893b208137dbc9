"""xlflow: check and correct 城乡居保 政府代缴 workbooks before they are uploaded."""

__version__ = "0.1.0"

from xlflow.errors import XlflowError  # noqa: E402

__all__ = ["XlflowError", "__version__", "process_workbook"]


def process_workbook(*args, **kwargs):
    """Validate one workbook and write its outputs; see :func:`xlflow.app.pipeline.process_workbook`."""
    from xlflow.app.pipeline import process_workbook as _process

    return _process(*args, **kwargs)
