"""The root exception and its few subclasses; the CLI maps each to an exit code in one place."""


class XlflowError(Exception):
    """A problem the user must fix before xlflow can work (bad usage, bad settings, output failure)."""

    exit_code = 2


class SettingsError(XlflowError):
    """The settings file or a command-line option is wrong."""


class OutputError(XlflowError):
    """An output file could not be written."""
