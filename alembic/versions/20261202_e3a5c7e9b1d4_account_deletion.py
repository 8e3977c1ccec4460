"""account deletion: when an account was deleted (the worker empties it)

Revision ID: e3a5c7e9b1d4
Revises: d1f3b5a7c9e2
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "e3a5c7e9b1d4"
down_revision: str | None = "d1f3b5a7c9e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("deleted_at", gallery.models.base.UTCDateTime(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("users", "deleted_at")
