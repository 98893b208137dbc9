"""The operations end to end: validate one workbook (pipeline), import an export, run a comparison, make a
workspace."""
