"""username reservations: names given up, kept from others for a while

Revision ID: d1f3b5a7c9e2
Revises: c0e2a4b6d8f1
Create Date: 2026-12-02 03:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "d1f3b5a7c9e2"
down_revision: str | None = "c0e2a4b6d8f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "username_reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username_key", gallery.models.base.exact_string(30), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("reserved_until", gallery.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_username_reservations_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_username_reservations")),
        sa.UniqueConstraint("username_key", name=op.f("uq_username_reservations_username_key")),
    )


def downgrade() -> None:
    op.drop_table("username_reservations")
