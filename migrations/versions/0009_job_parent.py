"""jobs: parent_job_id, the sweep (or other parent job) a child job belongs to

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.add_column(sa.Column('parent_job_id', sa.String(length=40), nullable=True))
    op.create_index('ix_jobs_parent_job_id', 'jobs', ['parent_job_id'])


def downgrade() -> None:
    op.drop_index('ix_jobs_parent_job_id', table_name='jobs')
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.drop_column('parent_job_id')
