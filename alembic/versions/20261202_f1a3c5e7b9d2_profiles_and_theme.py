"""profiles (display name, bio, website) and the colour mode

Revision ID: f1a3c5e7b9d2
Revises: e8f4a2c6d9b3
Create Date: 2026-12-02 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1a3c5e7b9d2"
down_revision: str | None = "e8f4a2c6d9b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("display_name", sa.String(length=50), nullable=True))
    op.add_column("users", sa.Column("bio", sa.String(length=300), nullable=True))
    op.add_column("users", sa.Column("website", sa.String(length=200), nullable=True))
    # Everyone so far saw the light site; "auto" follows their system from now on.
    op.add_column(
        "users", sa.Column("theme", sa.String(length=8), server_default="auto", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("users", "theme")
    op.drop_column("users", "website")
    op.drop_column("users", "bio")
    op.drop_column("users", "display_name")
