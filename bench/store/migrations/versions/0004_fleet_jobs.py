"""Fleet validation (issue 23): fleet_job (one submission of validate to many nodes) and fleet_task (one index of
it, pinned to a node; written at submission so that a node that never reports is missing).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fleet_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fleet_key', sa.String(length=255), nullable=False),
    sa.Column('scheduler', sa.String(length=16), nullable=False),
    sa.Column('scheduler_jobs', sa.JSON(), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=False),
    sa.Column('submitted', sa.String(length=40), nullable=False),
    sa.Column('partition', sa.String(length=255), nullable=True),
    sa.Column('nodes', sa.JSON(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_job')),
    sa.UniqueConstraint('fleet_key', name=op.f('uq_fleet_job_fleet_key'))
    )
    op.create_table('fleet_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fleet_job_id', sa.Integer(), nullable=False),
    sa.Column('task_index', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=255), nullable=False),
    sa.Column('ran_on', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('scheduler_job', sa.String(length=255), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started', sa.String(length=40), nullable=True),
    sa.Column('finished', sa.String(length=40), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('invocation_key', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['fleet_job_id'], ['fleet_job.id'], name=op.f('fk_fleet_task_fleet_job_id_fleet_job'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_task')),
    sa.UniqueConstraint('fleet_job_id', 'task_index', name=op.f('uq_fleet_task_fleet_job_id_task_index'))
    )
    with op.batch_alter_table('fleet_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fleet_task_finished'), ['finished'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fleet_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fleet_task_finished'))
    op.drop_table('fleet_task')
    op.drop_table('fleet_job')
