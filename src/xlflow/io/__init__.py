"""Reading what clerks and systems give us, safely: limits and refusals, the zip's scans, the raw sheets,
web and text exports, the table of one kind, custom properties, settings, the OS lock."""
