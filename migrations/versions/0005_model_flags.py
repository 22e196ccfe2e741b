"""warnings about a generator (e.g. collapsed) on its model

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('models') as batch_op:
        batch_op.add_column(sa.Column('flags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                      'postgresql'),
                                      server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('models') as batch_op:
        batch_op.drop_column('flags')
