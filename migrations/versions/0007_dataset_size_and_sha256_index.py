"""datasets: stored bytes (for the workspace storage limit) and an index for duplicate uploads

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:40:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets') as batch_op:
        batch_op.add_column(sa.Column('size_bytes', sa.BigInteger(), server_default='0', nullable=False))
    op.create_index('ix_datasets_workspace_sha256', 'datasets', ['workspace_id', 'sha256'])


def downgrade() -> None:
    op.drop_index('ix_datasets_workspace_sha256', table_name='datasets')
    with op.batch_alter_table('datasets') as batch_op:
        batch_op.drop_column('size_bytes')
