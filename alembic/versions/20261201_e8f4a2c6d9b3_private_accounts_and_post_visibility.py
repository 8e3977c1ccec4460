"""private accounts, follow requests and post visibility

Revision ID: e8f4a2c6d9b3
Revises: d7e3b9c1a4f2
Create Date: 2026-12-01 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "e8f4a2c6d9b3"
down_revision: str | None = "d7e3b9c1a4f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every account and post so far was public: the server defaults say so.
    op.add_column(
        "users", sa.Column("is_private", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "images",
        sa.Column("visibility", sa.String(length=16), server_default="public", nullable=False),
    )
    op.add_column(
        "images", sa.Column("is_public", sa.Boolean(), server_default="1", nullable=False)
    )
    op.create_table(
        "follow_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("created_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_follow_requests_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["users.id"],
            name=op.f("fk_follow_requests_target_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_requests")),
        sa.UniqueConstraint(
            "requester_id", "target_id", name="uq_follow_requests_requester_id_target_id"
        ),
    )
    op.create_index("ix_follow_requests_target_id_id", "follow_requests", ["target_id", "id"])


def downgrade() -> None:
    op.drop_table("follow_requests")
    op.drop_column("images", "is_public")
    op.drop_column("images", "visibility")
    op.drop_column("users", "is_private")
