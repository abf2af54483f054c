"""Tables. SQLAlchemy Core, not the ORM: every statement is written out in the store."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from conveyor.store.types import UTCDateTime, json_type

# 64-bit on both: SQLite's INTEGER already is (and a BIGINT there would be another
# type to migrate to for nothing).
Int64 = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    # Bumped on disable, role change or password change: tokens carry it, so old
    # tokens stop working at once.
    Column("credential_version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Registration invites (``CONVEYOR_REGISTRATION=invite``): only a code's SHA-256.
invites = Table(
    "invites",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("created_by", String(36), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_by", String(36)),
    Column("used_at", UTCDateTime()),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False, index=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("url", Text),
    Column("task_types", json_type(), nullable=False),
    Column("labels", json_type(), nullable=False),
    Column("max_concurrency", Integer, nullable=False),
    Column("owner_id", String(36)),
    Column("status", String(16), nullable=False),
    Column("health", String(16), nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("credential_version", Integer, nullable=False, server_default=text("1")),
    # The node secret is derived from the server key, the id and this version
    # (security/node_secrets.py). It is its own counter, not credential_version,
    # because disabling a node ends its tokens but must not change its secret.
    Column("secret_version", Integer, nullable=False, server_default=text("1")),
    Column("last_seen", UTCDateTime()),
    Column("load", json_type()),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("next_check_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("task_type", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("params", json_type(), nullable=False),
    Column("metadata", json_type(), nullable=False),
    Column("owner_id", String(36)),
    Column("assigned_node_id", String(64)),
    Column("priority", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(64)),
    Column("leased_at", UTCDateTime()),
    Column("lease_expires_at", UTCDateTime()),
    Column("lease_seconds", Integer),
    Column("run_at", UTCDateTime(), nullable=False),
    Column("timeout_seconds", Integer),
    Column("result", json_type()),
    Column("error", json_type()),
    Column("original_task_id", String(64)),
    Column("required_labels", json_type(), nullable=False),
    Column("progress_seq", Int64, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("finished_at", UTCDateTime()),
    # Runs ended so far; each has its row in task_attempts.
    Column("runs", Integer, nullable=False, server_default=text("0")),
    # A chunk of a job is a task like any other (leases, versions, retries,
    # progress and events all apply unchanged); these two say which job and where
    # in it. NULL for plain tasks.
    Column("job_id", String(36)),
    Column("chunk_index", Integer),
    # The W3C traceparent of the task's trace (docs/observability.md), set at submit
    # when the server traces; NULL otherwise.
    Column("traceparent", String(64)),
    # Partial indexes: a claim scans only pending rows and the sweeper only leased
    # ones, so neither slows down as finished tasks pile up. The pending ones hold
    # the claim's whole order, id included, so a claim reads the first rows in
    # order instead of sorting every pending task of its types.
    # Plain tasks only: a job's thousands of pending chunks would otherwise sit in
    # the plain claim's index order and be scanned past by every claim.
    Index(
        "ix_tasks_claimable",
        "task_type",
        text("priority DESC"),
        "run_at",
        "id",
        sqlite_where=text("status = 'pending' AND job_id IS NULL"),
        postgresql_where=text("status = 'pending' AND job_id IS NULL"),
    ),
    Index(
        "ix_tasks_pending_order",
        text("priority DESC"),
        "run_at",
        "id",
        sqlite_where=text("status = 'pending' AND job_id IS NULL"),
        postgresql_where=text("status = 'pending' AND job_id IS NULL"),
    ),
    # A job's chunks: the chunk claim reads one job's pending ones in claim order,
    # its bucket-slot count reads its in-progress ones, the grid and the results
    # read them all by index.
    Index(
        "ix_tasks_job_pending",
        "job_id",
        text("priority DESC"),
        "run_at",
        "id",
        sqlite_where=text("status = 'pending' AND job_id IS NOT NULL"),
        postgresql_where=text("status = 'pending' AND job_id IS NOT NULL"),
    ),
    Index(
        "ix_tasks_job_in_progress",
        "job_id",
        sqlite_where=text("status = 'in_progress' AND job_id IS NOT NULL"),
        postgresql_where=text("status = 'in_progress' AND job_id IS NOT NULL"),
    ),
    Index(
        "ix_tasks_job_chunk",
        "job_id",
        "chunk_index",
        unique=True,
        sqlite_where=text("job_id IS NOT NULL"),
        postgresql_where=text("job_id IS NOT NULL"),
    ),
    # A job's chunks in the order its event stream numbers their changes: a
    # resuming stream replays from here (store/job_events.py).
    Index(
        "ix_tasks_job_changes",
        "job_id",
        "updated_at",
        "id",
        sqlite_where=text("job_id IS NOT NULL"),
        postgresql_where=text("job_id IS NOT NULL"),
    ),
    Index(
        "ix_tasks_lease_expiry",
        "lease_expires_at",
        sqlite_where=text("status = 'in_progress'"),
        postgresql_where=text("status = 'in_progress'"),
    ),
    Index("ix_tasks_owner_created", "owner_id", "created_at", "id"),
    Index("ix_tasks_created", "created_at", "id"),
    Index("ix_tasks_assigned_node", "assigned_node_id"),
    Index(
        "ix_tasks_lease_owner",
        "lease_owner",
        sqlite_where=text("status = 'in_progress'"),
        postgresql_where=text("status = 'in_progress'"),
    ),
    Index("ix_tasks_original", "original_task_id"),
    # Per-node finished counts in the registry listing read only completed rows.
    Index(
        "ix_tasks_completed_by",
        "lease_owner",
        sqlite_where=text("status = 'completed'"),
        postgresql_where=text("status = 'completed'"),
    ),
)

task_progress = Table(
    "task_progress",
    metadata,
    Column("task_id", String(64), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Int64, primary_key=True),
    Column("data", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One row per ended run of a task (its attempt history), written by the transition
# that ended the run, in the same transaction. ``error`` is what the node reported
# (type, message, traceback from the worker runtime) or why the system ended it.
task_attempts = Table(
    "task_attempts",
    metadata,
    Column("task_id", String(64), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("node_id", String(64)),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", json_type()),
)

# Stream tickets already used, shared by every replica so a ticket opens one stream
# in all; a row is kept until the ticket could no longer verify anyway.
used_stream_tickets = Table(
    "used_stream_tickets",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_used_stream_tickets_expires", "expires_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal_id", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(36), primary_key=True),
    # A user id or a node id: whoever uploaded it.
    Column("owner_id", String(64), nullable=False),
    Column("task_id", String(64), ForeignKey("tasks.id", ondelete="SET NULL")),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_artifacts_task", "task_id"),
    Index("ix_artifacts_owner_created", "owner_id", "created_at"),
)

# A chunked job (DESIGN §4): its chunks are rows of ``tasks`` (job_id, chunk_index).
# Money figures are not stored here: they follow from the chunks' statuses and the
# price, and the ledger holds the movements themselves.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), nullable=False),
    Column("status", String(24), nullable=False),
    Column("task_type", String(100), nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("chunk_count", Integer, nullable=False),
    Column("item_count", BigInteger, nullable=False),
    Column("max_concurrency", Integer, nullable=False),
    Column("price_per_chunk", BigInteger, nullable=False),
    # The fee when the job was created: the terms its customer and earners agreed to.
    Column("fee_percent", Integer, nullable=False),
    Column("allow_own_nodes", Boolean, nullable=False, server_default=text("false")),
    Column("required_labels", json_type(), nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("dataset_artifact_id", String(36)),
    Column("code_artifact_id", String(36)),
    Column("runtime", String(16)),
    Column("metadata", json_type(), nullable=False),
    # When a claim last took chunks of this job: the fair claim serves the job
    # that has waited longest first.
    Column("last_claimed_at", UTCDateTime()),
    # Chunks not ended yet (store/chunk_ledger.py): the job ends when this reaches 0.
    Column("open_chunks", Integer, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Index("ix_jobs_owner_created", "owner_id", "created_at", "id"),
    Index("ix_jobs_created", "created_at", "id"),
    Index(
        "ix_jobs_running",
        "last_claimed_at",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

# --- credits: a double-entry ledger (docs/wallet.md) ----------------------------
#
# An account per (user, kind) for users (available, reserved, earned) and one each
# for the platform and the world (money coming in or going out through a payment
# provider; the only account allowed below zero). ``balance`` caches the sum of the
# account's entries, updated in the transaction that writes them, so a reservation
# reads and locks one row instead of summing a history.
ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(36)),
    Column("kind", String(16), nullable=False),
    Column("balance", Int64, nullable=False, server_default=text("0")),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint("kind = 'world' OR balance >= 0", name="ck_ledger_accounts_not_negative"),
    Index("ix_ledger_accounts_user_id", "user_id"),
)

# Only ever inserted: a movement is never edited or removed, a mistake is undone by
# another transaction. (kind, ref) is unique so one chunk, one deposit, one webhook
# can move money once, across every replica.
ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", Int64, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("ref", String(200), nullable=False),
    Column("details", json_type()),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_ledger_transactions_kind_ref", "kind", "ref", unique=True),
    # Where a time window's transactions start (a provider's earnings per bucket).
    Index("ix_ledger_transactions_created_at", "created_at"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Int64, primary_key=True, autoincrement=True),
    Column(
        "transaction_id",
        Int64,
        ForeignKey("ledger_transactions.id"),
        nullable=False,
    ),
    Column("account_id", String(64), ForeignKey("ledger_accounts.id"), nullable=False),
    # Signed: a transaction's entries sum to zero.
    Column("amount", Int64, nullable=False),
    Index("ix_ledger_entries_account_id", "account_id", "transaction_id"),
    Index("ix_ledger_entries_transaction_id", "transaction_id"),
)

# Money asked of a payment provider: a Stripe Checkout Session waits here until its
# webhook says it was paid; the sandbox's rows succeed at once.
wallet_payments = Table(
    "wallet_payments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("amount", Int64, nullable=False),
    Column("status", String(16), nullable=False),
    Column("external_id", String(255)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_wallet_payments_user_created", "user_id", "created_at"),
    Index("ix_wallet_payments_provider_external", "provider", "external_id", unique=True),
)

# Provider events already handled: a webhook delivered twice credits once.
payment_events = Table(
    "payment_events",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("received_at", UTCDateTime(), nullable=False),
)
