"""Streaming: an invocation is written when it starts and its runs as they finish, so its row says where it is.

invocation.state (running, done, interrupted), invocation.start_key (its key as known at the start: a --resume and
the report imported later find the row by it) and invocation.updated (its last write). The rows stored before
were whole reports: done, or interrupted when their report says so; their start_key is computed here from their
invocation key (the digest of bench/store/rows.py's start_key for a report without an id, copied: a migration must
not change when the code does; it matches no other row) and their updated is their created.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def report_start_key(invocation_key: str) -> str:
    parts = ("invocation-report", invocation_key)
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table('invocation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('start_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('updated', sa.String(length=40), nullable=True))
    connection = op.get_bind()
    invocation = sa.table('invocation', sa.column('id', sa.Integer), sa.column('invocation_key', sa.String),
                          sa.column('created', sa.String), sa.column('interrupted', sa.Boolean),
                          sa.column('state', sa.String), sa.column('start_key', sa.String),
                          sa.column('updated', sa.String))
    rows = connection.execute(sa.select(invocation.c.id, invocation.c.invocation_key, invocation.c.created,
                                        invocation.c.interrupted)).all()
    if rows:
        connection.execute(
            invocation.update().where(invocation.c.id == sa.bindparam('row_id'))
            .values(state=sa.bindparam('new_state'), start_key=sa.bindparam('new_start_key'),
                    updated=sa.bindparam('new_updated')),
            [{"row_id": row.id, "new_state": "interrupted" if row.interrupted else "done",
              "new_start_key": report_start_key(row.invocation_key),
              "new_updated": row.created} for row in rows])
    with op.batch_alter_table('invocation', schema=None) as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column('start_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('updated', existing_type=sa.String(length=40), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_invocation_start_key'), ['start_key'])
        batch_op.create_index(batch_op.f('ix_invocation_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invocation_state'))
        batch_op.drop_constraint(batch_op.f('uq_invocation_start_key'), type_='unique')
        batch_op.drop_column('updated')
        batch_op.drop_column('start_key')
        batch_op.drop_column('state')
