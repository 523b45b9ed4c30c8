"""cases: pending extension requests (approved by the level above) and when a case was suspended

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:00:00

Plain column types only (no imports from the application), so the revision stays valid as the models evolve.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("extension_request_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("extension_requested_by", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("suspended_at")
        batch_op.drop_column("extension_requested_by")
        batch_op.drop_column("extension_request_s")
