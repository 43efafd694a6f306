"""contributions read model, audit details

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:40:00

The read model is derived data: after creating its tables the upgrade fills them from the
submissions and records already held, so a laptop upgraded in the field shows its own data.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contribution',
    sa.Column('key', sa.String(length=94), nullable=False),
    sa.Column('submission_uuid', sa.String(length=36), nullable=False),
    sa.Column('question_id', sa.String(length=36), nullable=False),
    sa.Column('consultation_id', sa.String(length=36), nullable=False),
    sa.Column('programme', sa.String(length=200), nullable=True),
    sa.Column('governorate', sa.String(length=20), nullable=True),
    sa.Column('district', sa.String(length=60), nullable=True),
    sa.Column('consultation_kind', sa.String(length=40), nullable=True),
    sa.Column('held_on', sa.String(length=10), nullable=True),
    sa.Column('created_at', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('gender', sa.String(length=20), nullable=True),
    sa.Column('age_band', sa.String(length=20), nullable=True),
    sa.Column('grp', sa.String(length=40), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('search_key', sa.Text(), nullable=True),
    sa.Column('dup_key', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=True),
    sa.Column('codes', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_contribution'))
    )
    with op.batch_alter_table('contribution', schema=None) as batch_op:
        batch_op.create_index('ix_contribution_submission_question', ['submission_uuid', 'question_id'], unique=False)
        batch_op.create_index('ix_contribution_consultation_dup', ['consultation_id', 'dup_key', 'state', 'language', 'channel', 'key'], unique=False)
        batch_op.create_index('ix_contribution_state_key', ['state', 'key'], unique=False)

    op.create_table('contribution_code',
    sa.Column('code_id', sa.String(length=36), nullable=False),
    sa.Column('contribution_key', sa.String(length=94), nullable=False),
    sa.PrimaryKeyConstraint('code_id', 'contribution_key', name=op.f('pk_contribution_code'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detail', sa.Text(), nullable=True))
        batch_op.create_index('ix_audit_event_action_at', ['action', 'at'], unique=False)

    from fieldapp.services.contributions import rebuild_on

    rebuild_on(op.get_bind())


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_action_at')
        batch_op.drop_column('detail')
    op.drop_table('contribution_code')
    with op.batch_alter_table('contribution', schema=None) as batch_op:
        batch_op.drop_index('ix_contribution_state_key')
        batch_op.drop_index('ix_contribution_consultation_dup')
        batch_op.drop_index('ix_contribution_submission_question')
    op.drop_table('contribution')
