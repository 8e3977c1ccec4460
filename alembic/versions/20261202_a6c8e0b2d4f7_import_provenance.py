"""import provenance: where `gallery import URL` found a post's photo

Revision ID: a6c8e0b2d4f7
Revises: f5b7d9e1a3c6
Create Date: 2026-12-02 06:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "a6c8e0b2d4f7"
down_revision: str | None = "f5b7d9e1a3c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("images", sa.Column("source_url", sa.String(length=2048), nullable=True))
    op.add_column(
        "images",
        sa.Column("source_url_sha256", gallery.models.base.exact_string(64), nullable=True),
    )
    op.add_column(
        "images", sa.Column("source_sha256", gallery.models.base.exact_string(64), nullable=True)
    )
    op.create_index(
        "ix_images_author_id_source_url_sha256", "images", ["author_id", "source_url_sha256"]
    )
    op.create_index("ix_images_author_id_source_sha256", "images", ["author_id", "source_sha256"])


def downgrade() -> None:
    # MariaDB keeps using an index that starts with author_id for the foreign key
    # once another exists (ix_images_author_id_id), so these drop cleanly.
    op.drop_index("ix_images_author_id_source_sha256", table_name="images")
    op.drop_index("ix_images_author_id_source_url_sha256", table_name="images")
    op.drop_column("images", "source_sha256")
    op.drop_column("images", "source_url_sha256")
    op.drop_column("images", "source_url")
