"""pending storage writes and deletes (the orphan sweep's ledger)

Revision ID: 5a1c0e7d9b42
Revises: e24664cfda12
Create Date: 2026-12-01 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "5a1c0e7d9b42"
down_revision: str | None = "e24664cfda12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Written before stored bytes and cleared with the commit that makes them
    # final: what a crash leaves here is what the storage sweep removes.
    op.create_table(
        "storage_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("intent", sa.String(length=8), nullable=False),
        sa.Column("created_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_pending")),
    )
    op.create_index(
        "ix_storage_pending_due", "storage_pending", ["intent", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_storage_pending_due", table_name="storage_pending")
    op.drop_table("storage_pending")
