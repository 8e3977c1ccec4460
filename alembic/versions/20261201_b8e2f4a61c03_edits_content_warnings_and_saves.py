"""post edits with their history, content warnings, and saved posts

Revision ID: b8e2f4a61c03
Revises: 7c3e51a2d8f0
Create Date: 2026-12-01 15:40:00.000000

Columns are added in place (no batch rebuild), so SQLite keeps the triggers
of the description's full-text index (models/search.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "b8e2f4a61c03"
down_revision: str | None = "7c3e51a2d8f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "images", sa.Column("edited_at", gallery.models.base.UTCDateTime(), nullable=True)
    )
    op.add_column(
        "images", sa.Column("sensitive", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "images",
        sa.Column("content_warning", sa.String(length=100), nullable=True),
    )
    op.add_column(
        "users", sa.Column("show_sensitive", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "users", sa.Column("saves_version", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_table(
        "post_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("editor_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("alt_texts", sa.Text(), nullable=False),
        sa.Column("valid_from", gallery.models.base.UTCDateTime(), nullable=False),
        sa.Column("replaced_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["users.id"],
            name=op.f("fk_post_versions_editor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_post_versions_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_versions")),
    )
    op.create_index("ix_post_versions_image_id_id", "post_versions", ["image_id", "id"])
    op.create_table(
        "saves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("created_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_saves_image_id_images"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saves_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saves")),
        sa.UniqueConstraint("user_id", "image_id", name="uq_saves_user_id_image_id"),
    )
    op.create_index("ix_saves_user_id_id", "saves", ["user_id", "id"])
    op.create_index("ix_saves_image_id", "saves", ["image_id"])


def downgrade() -> None:
    # Their indexes go with the tables (MariaDB refuses to drop one a foreign key uses).
    op.drop_table("saves")
    op.drop_table("post_versions")
    op.drop_column("users", "saves_version")
    op.drop_column("users", "show_sensitive")
    op.drop_column("images", "content_warning")
    op.drop_column("images", "sensitive")
    op.drop_column("images", "edited_at")
