"""photos of posts: every image becomes a post of one photo

Revision ID: 7c3e51a2d8f0
Revises: 5a1c0e7d9b42
Create Date: 2026-12-01 15:50:00.000000

An ``images`` row is a post from here on: it keeps its id, caption, counters
and everything that points at it (likes, comments, tags, views, reports,
notifications), and its files move into ``photos`` as its one photo at
position 0. Nothing is copied in storage; the keys move, the files stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "7c3e51a2d8f0"
down_revision: str | None = "5a1c0e7d9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILE_COLUMNS = ("original_key", "display_key", "thumb_key", "width", "height", "thumb_size")


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        # NULL while the photo is a draft the composer sent ahead of its post.
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("original_key", sa.String(length=255), nullable=False),
        sa.Column("display_key", sa.String(length=255), nullable=False),
        sa.Column("thumb_key", sa.String(length=255), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("thumb_size", sa.Integer(), nullable=False),
        sa.Column("alt_text", sa.Text(), nullable=False),
        sa.Column("variant_stem", sa.String(length=255), nullable=False),
        sa.Column("variant_widths", sa.String(length=64), nullable=False),
        sa.Column("variant_format", sa.String(length=8), nullable=False),
        sa.Column("variant_has_jpeg", sa.Boolean(), nullable=False),
        sa.Column("blurhash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_photos_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_photos_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("image_id", "position", name="uq_photos_image_id_position"),
    )
    op.create_index("ix_photos_owner_id_image_id", "photos", ["owner_id", "image_id"])
    columns = ", ".join(FILE_COLUMNS)
    # The column names are this file's constants, not input.
    op.execute(
        "INSERT INTO photos (image_id, owner_id, created_at, position, "  # noqa: S608
        f"{columns}, alt_text, variant_stem, variant_widths, variant_format, variant_has_jpeg) "
        f"SELECT id, author_id, created_at, 0, {columns}, '', '', '', '', 0 FROM images ORDER BY id"
    )
    # Column by column, not in batch mode: SQLite (3.35+) drops a column in
    # place, where a batch rebuild of ``images`` would also drop the triggers
    # that keep its full-text index in step (models/search.py).
    for name in FILE_COLUMNS:
        op.drop_column("images", name)


def downgrade() -> None:
    # Each post keeps its first photo; the files of any further photos, and
    # of drafts, are left in storage, unreferenced.
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    for name in FILE_COLUMNS:
        kind: sa.types.TypeEngine[object] = (
            sa.String(length=255) if name.endswith("_key") else sa.Integer()
        )
        # NOT NULL needs a default for the rows already there; dropped again
        # below where the back-end can (SQLite cannot alter a column).
        op.add_column(
            "images",
            sa.Column(
                name, kind, nullable=False, server_default="" if name.endswith("_key") else "0"
            ),
        )
    for name in FILE_COLUMNS:
        op.execute(
            f"UPDATE images SET {name} = (SELECT photos.{name} FROM photos "  # noqa: S608
            f"WHERE photos.image_id = images.id AND photos.position = 0)"
        )
    if not is_sqlite:
        for name in FILE_COLUMNS:
            op.alter_column(
                "images",
                name,
                server_default=None,
                existing_nullable=False,
                existing_type=sa.String(length=255) if name.endswith("_key") else sa.Integer(),
            )
    op.drop_table("photos")  # with its indexes
