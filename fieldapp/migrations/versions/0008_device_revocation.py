"""revocation after an export number, and rotated device keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:50:00

A device revoked before this revision refused every file; ``revoked_after_seq`` 0 keeps it so
(no export is numbered 0). ``device_key`` holds the keys a device signed with before it
rotated to a newer one, with the signed statement that retired each.
"""
from alembic import op
import sqlalchemy as sa
import fieldapp.models.types  # noqa: F401 -- custom column types used by autogenerate


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_after_seq', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('revoked_at', fieldapp.models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column('key_from_seq', sa.Integer(), server_default='1', nullable=False)
        )
    device = sa.table(
        'device', sa.column('revoked', sa.Boolean()), sa.column('revoked_after_seq', sa.Integer())
    )
    op.execute(
        device.update().where(device.c.revoked == sa.true()).values(revoked_after_seq=0)
    )
    op.create_table('device_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('first_seq', sa.Integer(), nullable=False),
    sa.Column('until_seq', sa.Integer(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('recorded_at', fieldapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_key')),
    sa.UniqueConstraint('device_id', 'public_key', name=op.f('uq_device_key_device_id'))
    )
    with op.batch_alter_table('device_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_key_device_id'), ['device_id'], unique=False)


def downgrade():
    with op.batch_alter_table('device_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_key_device_id'))
    op.drop_table('device_key')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('key_from_seq')
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('revoked_after_seq')
