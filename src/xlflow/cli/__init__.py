"""The command line, one file per command group over a shared ``common``: parse options, call the library,
print, set the exit code. Nothing else."""

from xlflow.cli.main import main

__all__ = ["main"]
