"""nodes, camera_leases, cluster_locks; outbox.node_id and alerts.node_id (multi-node on PostgreSQL)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:30:00

Plain column types only (no imports from the application), so the revision stays valid as the models evolve.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_ttl", sa.Float(), nullable=False),
        sa.Column("max_cameras", sa.Integer(), nullable=False),
        sa.Column("console_url", sa.String(255), nullable=True),
    )
    op.create_table(
        "camera_leases",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_camera_leases_node", "camera_leases", ["node_id"])
    op.create_table(
        "cluster_locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("outbox", sa.Column("node_id", sa.String(64), nullable=True))
    op.add_column("alerts", sa.Column("node_id", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "node_id")
    op.drop_column("outbox", "node_id")
    op.drop_table("cluster_locks")
    op.drop_index("ix_camera_leases_node", "camera_leases")
    op.drop_table("camera_leases")
    op.drop_table("nodes")
