"""API keys: expiry, revocation and last use

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COLUMNS = ('expires_at', 'revoked_at', 'last_used_at')


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
