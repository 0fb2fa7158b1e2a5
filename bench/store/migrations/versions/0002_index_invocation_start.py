"""An index on invocation.started: `bench history --since` and `bench db export` read invocations by start.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('invocation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invocation_started'), ['started'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invocation_started'))
