"""chunked jobs

A job's chunks are rows of ``tasks`` (``job_id``, ``chunk_index``), so that leases,
versions, retries, progress, events and attempt history apply to them unchanged.
The plain claim's pending indexes now leave chunks out (a job's thousands of
pending chunks would otherwise sit in every plain claim's index scan); chunks get
their own pending index per job, an in-progress index per job (the bucket-slot
count) and a unique (job, chunk) index (grid and results order).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import conveyor.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"
PLAIN_PENDING = sa.text("status = 'pending' AND job_id IS NULL")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _pending_indexes(batch_op: object, where: sa.TextClause) -> None:
    batch_op.create_index(  # type: ignore[attr-defined]
        "ix_tasks_claimable",
        ["task_type", sa.text("priority DESC"), "run_at", "id"],
        sqlite_where=where,
        postgresql_where=where,
    )
    batch_op.create_index(  # type: ignore[attr-defined]
        "ix_tasks_pending_order",
        [sa.text("priority DESC"), "run_at", "id"],
        sqlite_where=where,
        postgresql_where=where,
    )


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("task_type", sa.String(length=100), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.BigInteger(), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("price_per_chunk", sa.BigInteger(), nullable=False),
        sa.Column("fee_percent", sa.Integer(), nullable=False),
        sa.Column("allow_own_nodes", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("required_labels", JSON, nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("dataset_artifact_id", sa.String(length=36), nullable=True),
        sa.Column("code_artifact_id", sa.String(length=36), nullable=True),
        sa.Column("runtime", sa.String(length=16), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column(
            "last_claimed_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", conveyor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_owner_created", "jobs", ["owner_id", "created_at", "id"])
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"])
    running = sa.text("status = 'running'")
    op.create_index(
        "ix_jobs_running",
        "jobs",
        ["last_claimed_at"],
        sqlite_where=running,
        postgresql_where=running,
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("chunk_index", sa.Integer(), nullable=True))
        batch_op.drop_index("ix_tasks_claimable")
        batch_op.drop_index("ix_tasks_pending_order")
        _pending_indexes(batch_op, PLAIN_PENDING)
        chunk_pending = sa.text("status = 'pending' AND job_id IS NOT NULL")
        batch_op.create_index(
            "ix_tasks_job_pending",
            ["job_id", sa.text("priority DESC"), "run_at", "id"],
            sqlite_where=chunk_pending,
            postgresql_where=chunk_pending,
        )
        in_progress = sa.text("status = 'in_progress' AND job_id IS NOT NULL")
        batch_op.create_index(
            "ix_tasks_job_in_progress",
            ["job_id"],
            sqlite_where=in_progress,
            postgresql_where=in_progress,
        )
        chunk = sa.text("job_id IS NOT NULL")
        batch_op.create_index(
            "ix_tasks_job_chunk",
            ["job_id", "chunk_index"],
            unique=True,
            sqlite_where=chunk,
            postgresql_where=chunk,
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_job_chunk")
        batch_op.drop_index("ix_tasks_job_in_progress")
        batch_op.drop_index("ix_tasks_job_pending")
        batch_op.drop_index("ix_tasks_claimable")
        batch_op.drop_index("ix_tasks_pending_order")
        _pending_indexes(batch_op, sa.text(PENDING))
        batch_op.drop_column("chunk_index")
        batch_op.drop_column("job_id")
    op.drop_index("ix_jobs_running", table_name="jobs")
    op.drop_index("ix_jobs_created", table_name="jobs")
    op.drop_index("ix_jobs_owner_created", table_name="jobs")
    op.drop_table("jobs")
