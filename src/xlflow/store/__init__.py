"""The SQLite ledger (台账) and its plain words for what goes wrong with the file."""
