"""locks, reports and the moderation log; a comments switch on images

Revision ID: e24664cfda12
Revises: b3e9d0c4a1f7
Create Date: 2026-11-21 08:07:25.315194
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import gallery.models.base

revision: str = "e24664cfda12"
down_revision: str | None = "b3e9d0c4a1f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One open report per person and target: open_key is unique while open, NULL after.
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_moderation_log_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["users.id"],
            name=op.f("fk_moderation_log_subject_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_log")),
    )
    op.create_index("ix_moderation_log_actor_id", "moderation_log", ["actor_id"], unique=False)
    op.create_index("ix_moderation_log_subject_id", "moderation_log", ["subject_id"], unique=False)
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", gallery.models.base.UTCDateTime(), nullable=False),
        sa.Column(
            "open_key",
            sa.String(length=64).with_variant(
                mysql.VARCHAR(collation="utf8mb4_bin", length=64), "mysql"
            ),
            nullable=True,
        ),
        sa.Column("resolved_at", gallery.models.base.UTCDateTime(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_reports_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_reports_image_id_images"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_reports_reporter_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_reports_resolved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("open_key", name=op.f("uq_reports_open_key")),
    )
    op.create_index("ix_reports_comment_id", "reports", ["comment_id"], unique=False)
    op.create_index("ix_reports_image_id", "reports", ["image_id"], unique=False)
    op.create_index("ix_reports_reporter_id", "reports", ["reporter_id"], unique=False)
    op.create_index("ix_reports_resolved_by_id", "reports", ["resolved_by_id"], unique=False)
    # Existing images keep taking comments (the server default fills the column).
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("comments_disabled", sa.Boolean(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locked_at", gallery.models.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("lock_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("lock_reason")
        batch_op.drop_column("locked_at")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("comments_disabled")
    # The tables go with their indexes: dropping an index that backs a foreign
    # key first fails on MariaDB.
    op.drop_table("reports")
    op.drop_table("moderation_log")
