"""The corrected, error and summary workbooks (xlsxwriter)."""
