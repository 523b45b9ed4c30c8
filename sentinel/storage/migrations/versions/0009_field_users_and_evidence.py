"""field users and case evidence: users.roster_id, case_evidence

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:00:00

A console user may be bound to a roster person (`roster_id`, for the `grid_worker` role: their grants come
from the roster). `case_evidence` holds a row per photo reported on a case from the phone page.

Plain column types only (no imports from the application), so the revision stays valid as the models evolve.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite has ADD and DROP COLUMN): a batch would copy `users` and drop the old table,
    # and on SQLite that drop cascades to every API token and session of the users
    op.add_column("users", sa.Column("roster_id", sa.String(length=64), nullable=True))
    op.create_table(
        "case_evidence",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("transition_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["transition_id"], ["case_transitions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_evidence_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_evidence_ts"), ["ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_evidence_ts"))
        batch_op.drop_index(batch_op.f("ix_case_evidence_case_id"))
    op.drop_table("case_evidence")
    op.drop_column("users", "roster_id")
