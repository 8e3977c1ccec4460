"""data exports: "Download my data" requests and their archives

Revision ID: f5b7d9e1a3c6
Revises: e3a5c7e9b1d4
Create Date: 2026-12-02 06:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "f5b7d9e1a3c6"
down_revision: str | None = "e3a5c7e9b1d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.Column("started_at", gallery.models.base.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", gallery.models.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", gallery.models.base.UTCDateTime(), nullable=True),
        sa.Column("expires_at", gallery.models.base.UTCDateTime(), nullable=True),
        sa.Column("archive_key", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("failure", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index("ix_data_exports_status", "data_exports", ["status"])
    op.create_index(
        "ix_data_exports_user_id_requested_at", "data_exports", ["user_id", "requested_at"]
    )


def downgrade() -> None:
    # Its indexes go with it (MariaDB will not drop the one its foreign key uses first).
    op.drop_table("data_exports")
