"""The clinic's SQLite store (one file, WAL) and the content-addressed file store beside it."""
