"""metric backbones

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:49.356948
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backbones',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('feature_dim', sa.Integer(), nullable=False),
    sa.Column('in_channels', sa.Integer(), nullable=False),
    sa.Column('object_key', sa.String(length=600), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backbones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backbones_workspace_id'), ['workspace_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backbones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backbones_workspace_id'))

    op.drop_table('backbones')
