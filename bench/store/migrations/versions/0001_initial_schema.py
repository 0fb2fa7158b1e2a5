"""The initial schema: machines, software, invocations, history keys, case and run results, envcheck
reports and checks, validate verdicts (bench/store/schema.py at revision 0001).

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('history_key',
    sa.Column('history_key', sa.String(length=64), nullable=False),
    sa.Column('case_key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=255), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('history_key', name=op.f('pk_history_key'))
    )
    with op.batch_alter_table('history_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_history_key_case_key'), ['case_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_history_key_fingerprint'), ['fingerprint'], unique=False)

    op.create_table('machine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=255), nullable=False),
    sa.Column('device', sa.String(length=16), nullable=False),
    sa.Column('device_name', sa.String(length=255), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_machine')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_machine_fingerprint'))
    )
    op.create_table('software',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('software_key', sa.String(length=64), nullable=False),
    sa.Column('python', sa.String(length=255), nullable=True),
    sa.Column('torch', sa.String(length=255), nullable=True),
    sa.Column('cuda', sa.String(length=255), nullable=True),
    sa.Column('cudnn', sa.String(length=255), nullable=True),
    sa.Column('driver', sa.String(length=255), nullable=True),
    sa.Column('packages', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_software')),
    sa.UniqueConstraint('software_key', name=op.f('uq_software_software_key'))
    )
    op.create_table('envcheck_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('envcheck_key', sa.String(length=64), nullable=False),
    sa.Column('machine_id', sa.Integer(), nullable=False),
    sa.Column('software_id', sa.Integer(), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=True),
    sa.Column('created', sa.String(length=40), nullable=False),
    sa.Column('verdict', sa.String(length=8), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('report', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['machine_id'], ['machine.id'], name=op.f('fk_envcheck_report_machine_id_machine')),
    sa.ForeignKeyConstraint(['software_id'], ['software.id'], name=op.f('fk_envcheck_report_software_id_software')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_envcheck_report')),
    sa.UniqueConstraint('envcheck_key', name=op.f('uq_envcheck_report_envcheck_key'))
    )
    op.create_table('invocation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invocation_key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('machine_id', sa.Integer(), nullable=False),
    sa.Column('software_id', sa.Integer(), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=True),
    sa.Column('started', sa.String(length=40), nullable=False),
    sa.Column('created', sa.String(length=40), nullable=False),
    sa.Column('wall_s', sa.Float(), nullable=True),
    sa.Column('suite', sa.String(length=255), nullable=True),
    sa.Column('device', sa.String(length=16), nullable=True),
    sa.Column('label', sa.String(length=255), nullable=True),
    sa.Column('setup_label', sa.String(length=255), nullable=True),
    sa.Column('argv', sa.JSON(), nullable=False),
    sa.Column('setup', sa.JSON(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('ceilings', sa.JSON(), nullable=False),
    sa.Column('runs_planned', sa.Integer(), nullable=True),
    sa.Column('cases_planned', sa.Integer(), nullable=True),
    sa.Column('cases_finished', sa.Integer(), nullable=True),
    sa.Column('interrupted', sa.Boolean(), nullable=False),
    sa.Column('git_commit', sa.String(length=255), nullable=True),
    sa.Column('git_dirty', sa.Boolean(), nullable=True),
    sa.Column('report', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['machine_id'], ['machine.id'], name=op.f('fk_invocation_machine_id_machine')),
    sa.ForeignKeyConstraint(['software_id'], ['software.id'], name=op.f('fk_invocation_software_id_software')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invocation')),
    sa.UniqueConstraint('invocation_key', name=op.f('uq_invocation_invocation_key'))
    )
    with op.batch_alter_table('invocation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invocation_machine_id_started'), ['machine_id', 'started'], unique=False)

    op.create_table('case_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invocation_id', sa.Integer(), nullable=False),
    sa.Column('history_key', sa.String(length=64), nullable=False),
    sa.Column('case_key', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('step_s', sa.Float(), nullable=True),
    sa.Column('items_per_s', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('run_spread_cv', sa.Float(), nullable=True),
    sa.Column('noisy', sa.Boolean(), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['history_key'], ['history_key.history_key'], name=op.f('fk_case_result_history_key_history_key')),
    sa.ForeignKeyConstraint(['invocation_id'], ['invocation.id'], name=op.f('fk_case_result_invocation_id_invocation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_result')),
    sa.UniqueConstraint('invocation_id', 'case_key', name=op.f('uq_case_result_invocation_id_case_key'))
    )
    with op.batch_alter_table('case_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_result_history_key_invocation_id'), ['history_key', 'invocation_id'], unique=False)

    op.create_table('envcheck_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('envcheck_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('fix', sa.Text(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['envcheck_id'], ['envcheck_report.id'], name=op.f('fk_envcheck_result_envcheck_id_envcheck_report'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_envcheck_result')),
    sa.UniqueConstraint('envcheck_id', 'name', name=op.f('uq_envcheck_result_envcheck_id_name'))
    )
    op.create_table('run_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invocation_id', sa.Integer(), nullable=False),
    sa.Column('case_key', sa.String(length=255), nullable=False),
    sa.Column('run_index', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('step_s', sa.Float(), nullable=True),
    sa.Column('steps_per_round', sa.Integer(), nullable=True),
    sa.Column('round_s', sa.JSON(), nullable=False),
    sa.Column('noisy', sa.Boolean(), nullable=False),
    sa.Column('noise', sa.JSON(), nullable=True),
    sa.Column('compile_s', sa.Float(), nullable=True),
    sa.Column('compile_cache', sa.String(length=16), nullable=True),
    sa.Column('peak_memory_bytes', sa.BigInteger(), nullable=True),
    sa.Column('memory_kind', sa.String(length=32), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['invocation_id'], ['invocation.id'], name=op.f('fk_run_result_invocation_id_invocation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_result')),
    sa.UniqueConstraint('invocation_id', 'case_key', 'run_index', name=op.f('uq_run_result_invocation_id_case_key_run_index'))
    )
    op.create_table('validate_verdict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invocation_id', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=False),
    sa.Column('threshold_pct', sa.Float(), nullable=True),
    sa.Column('baseline', sa.Text(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['invocation_id'], ['invocation.id'], name=op.f('fk_validate_verdict_invocation_id_invocation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validate_verdict')),
    sa.UniqueConstraint('invocation_id', name=op.f('uq_validate_verdict_invocation_id'))
    )


def downgrade() -> None:
    op.drop_table('validate_verdict')
    op.drop_table('run_result')
    op.drop_table('envcheck_result')
    with op.batch_alter_table('case_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_result_history_key_invocation_id'))

    op.drop_table('case_result')
    with op.batch_alter_table('invocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invocation_machine_id_started'))

    op.drop_table('invocation')
    op.drop_table('envcheck_report')
    op.drop_table('software')
    op.drop_table('machine')
    with op.batch_alter_table('history_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_history_key_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_history_key_case_key'))

    op.drop_table('history_key')
