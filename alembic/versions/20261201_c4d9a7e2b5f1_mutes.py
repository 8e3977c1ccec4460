"""mutes, and the version of whom a viewer hides

Revision ID: c4d9a7e2b5f1
Revises: b8e2f4a61c03
Create Date: 2026-12-01 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gallery.models.base

revision: str = "c4d9a7e2b5f1"
down_revision: str | None = "b8e2f4a61c03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("relations_version", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_table(
        "mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("muter_id", sa.Integer(), nullable=False),
        sa.Column("muted_id", sa.Integer(), nullable=False),
        sa.Column("created_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["muted_id"], ["users.id"], name=op.f("fk_mutes_muted_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["muter_id"], ["users.id"], name=op.f("fk_mutes_muter_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mutes")),
        sa.UniqueConstraint("muter_id", "muted_id", name="uq_mutes_muter_id_muted_id"),
    )
    op.create_index("ix_mutes_muter_id_id", "mutes", ["muter_id", "id"])
    op.create_index("ix_mutes_muted_id", "mutes", ["muted_id"])


def downgrade() -> None:
    # Its indexes go with the table (MariaDB refuses to drop one a foreign key uses).
    op.drop_table("mutes")
    op.drop_column("users", "relations_version")
