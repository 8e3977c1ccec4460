"""search image descriptions

Revision ID: b3e9d0c4a1f7
Revises: ad29fcfa3757
Create Date: 2026-11-21 10:00:00.000000

A full-text index over ``images.description`` for search (services/search.py):
a FULLTEXT index on MariaDB/MySQL; on SQLite an FTS5 external-content table
(it stores only the index, the text stays in ``images``) with triggers that keep
it in step. SQLite drops triggers with their table, so a later revision that
rebuilds ``images`` in batch mode must run ``_create_sqlite_triggers`` again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b3e9d0c4a1f7"
down_revision: str | None = "ad29fcfa3757"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FULLTEXT_INDEX = "ix_images_description_fulltext"

# Letters, digits, combining marks and "_" make words, as on MariaDB (and as the
# search terms are cut); diacritics and case are folded as utf8mb4_unicode_ci does.
SQLITE_FTS_TABLE = """
CREATE VIRTUAL TABLE images_fts USING fts5(
    description,
    content='images',
    content_rowid='id',
    tokenize="unicode61 remove_diacritics 2 categories 'L* N* Co M* Pc'"
)
"""

# External content: the index is told the old text to forget, then the new.
SQLITE_TRIGGERS = {
    "images_fts_after_insert": """
CREATE TRIGGER images_fts_after_insert AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, description) VALUES (new.id, new.description);
END
""",
    "images_fts_after_delete": """
CREATE TRIGGER images_fts_after_delete AFTER DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, description)
    VALUES ('delete', old.id, old.description);
END
""",
    "images_fts_after_update": """
CREATE TRIGGER images_fts_after_update AFTER UPDATE OF description ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, description)
    VALUES ('delete', old.id, old.description);
    INSERT INTO images_fts(rowid, description) VALUES (new.id, new.description);
END
""",
}


def _dialect() -> str:
    # Works offline (--sql) too, where there is no connection to ask.
    return op.get_context().dialect.name


def _create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS.values():
        op.execute(statement)


def upgrade() -> None:
    dialect = _dialect()
    if dialect in ("mysql", "mariadb"):
        # InnoDB adds its hidden FTS_DOC_ID column here (a table rebuild, once).
        op.create_index(FULLTEXT_INDEX, "images", ["description"], mysql_prefix="FULLTEXT")
    elif dialect == "sqlite":
        op.execute(SQLITE_FTS_TABLE)
        _create_sqlite_triggers()
        # Index the descriptions that are already there.
        op.execute("INSERT INTO images_fts(images_fts) VALUES ('rebuild')")


def downgrade() -> None:
    dialect = _dialect()
    if dialect in ("mysql", "mariadb"):
        op.drop_index(FULLTEXT_INDEX, table_name="images")
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        # Dropping the virtual table drops its shadow tables too.
        op.execute("DROP TABLE IF EXISTS images_fts")
