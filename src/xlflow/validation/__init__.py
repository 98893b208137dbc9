"""Checks per workbook kind: row schemas (pandera), cross-row and cross-table checks → findings."""
