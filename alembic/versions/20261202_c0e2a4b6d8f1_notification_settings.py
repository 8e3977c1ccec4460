"""notification settings: the kinds of notice each person turned off

Revision ID: c0e2a4b6d8f1
Revises: b8d0f2a4c6e3
Create Date: 2026-12-02 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0e2a4b6d8f1"
down_revision: str | None = "b8d0f2a4c6e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Everyone has had every kind of notice so far: none is off (NULL).
    op.add_column("users", sa.Column("notices_off", sa.String(length=120), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "notices_off")
