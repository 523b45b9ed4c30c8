"""Storage at the bottom of the house: the SQLAlchemy Base, `open_database`, migrations, outbox rows."""

from sentinel.storage.db import (
    Base,
    Database,
    DatabaseError,
    DatabaseMissing,
    DatabaseUrlError,
    open_database,
)

__all__ = ["Base", "Database", "DatabaseError", "DatabaseMissing", "DatabaseUrlError", "open_database"]
