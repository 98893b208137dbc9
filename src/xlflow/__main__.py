"""`python -m xlflow`: the same as the xlflow command."""

from xlflow.cli import main

if __name__ == "__main__":
    main()
