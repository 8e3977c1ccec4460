"""index images by created_at

Revision ID: ad29fcfa3757
Revises: c7352f21b305
Create Date: 2026-11-21 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "ad29fcfa3757"
down_revision: str | None = "c7352f21b305"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The hot ranking reads the last week's images once a minute; without this
    # index that would be a scan of the whole table.
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index("ix_images_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_created_at")
