"""The full-text indexes that search reads, which the mapped tables do not describe.

* MariaDB/MySQL: a FULLTEXT index on ``images.description``, declared on ``Image``
  (``ddl_if`` keeps it off other back-ends).
* SQLite: ``images_fts``, an FTS5 *external-content* table over
  ``images.description`` (rowid = ``images.id``); it stores only the index, and
  three triggers on ``images`` keep it in step with inserts, updates and deletes.
  The Alembic revision ``b3e9d0c4a1f7`` creates both the table and the triggers.

Neither the FTS5 table nor its shadow tables (``images_fts_data`` …) are in
``Base.metadata``: ``schema_filters`` tells Alembic's comparison (``env.py`` and
the migration test) to leave them, and the dialect-only index, alone.

SQLite drops a table's triggers with it: a later revision that rebuilds
``images`` in batch mode (copy, drop, rename) must create the triggers again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Integer, Text, column, table

IMAGES_FTS = "images_fts"
DESCRIPTION_FULLTEXT_INDEX = "ix_images_description_fulltext"
FULLTEXT_DIALECTS = ("mysql", "mariadb")

# For queries only (``rowid MATCH``); never created from here.
images_fts = table(IMAGES_FTS, column("rowid", Integer), column("description", Text))


def is_fts_table(name: str | None) -> bool:
    """The FTS5 table or one of the shadow tables SQLite keeps for it."""
    return name is not None and (name == IMAGES_FTS or name.startswith(f"{IMAGES_FTS}_"))


def schema_filters(dialect_name: str) -> dict[str, Callable[..., bool]]:
    """``include_name`` / ``include_object`` for Alembic's comparison on ``dialect_name``."""

    def include_name(name: str | None, type_: str, _parents: dict[str, str | None]) -> bool:
        return not (type_ == "table" and is_fts_table(name))

    def include_object(
        _object: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
    ) -> bool:
        if type_ == "index" and name == DESCRIPTION_FULLTEXT_INDEX:
            return dialect_name in FULLTEXT_DIALECTS
        return not (type_ == "table" and is_fts_table(name))

    return {"include_name": include_name, "include_object": include_object}
