"""receipts from head office, and what each export carried

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 13:00:00

A laptop purges only the answers head office has acknowledged (issue #12): it keeps the digest
of each export's manifest, the first export that carried each submission, and the receipts
applied. Exports made before this revision recorded neither, so the answers they carried
become purgeable once the next export carries them and head office acknowledges it.
"""
from alembic import op
import sqlalchemy as sa
import fieldapp.models.types  # noqa: F401 -- custom column types used by autogenerate


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('export_manifest',
    sa.Column('export_seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('export_seq', name=op.f('pk_export_manifest'))
    )
    op.create_table('exported_submission',
    sa.Column('submission_uuid', sa.String(length=36), nullable=False),
    sa.Column('export_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('submission_uuid', name=op.f('pk_exported_submission'))
    )
    with op.batch_alter_table('exported_submission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exported_submission_export_seq'), ['export_seq'], unique=False)

    op.create_table('receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('headoffice_device_id', sa.String(length=36), nullable=False),
    sa.Column('written_at', sa.String(length=40), nullable=False),
    sa.Column('applied_at', fieldapp.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('exports', sa.Text(), nullable=False),
    sa.Column('acknowledged', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt')),
    sa.UniqueConstraint('digest', name=op.f('uq_receipt_digest'))
    )
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipt_applied_at'), ['applied_at'], unique=False)


def downgrade():
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipt_applied_at'))
    op.drop_table('receipt')
    with op.batch_alter_table('exported_submission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exported_submission_export_seq'))
    op.drop_table('exported_submission')
    op.drop_table('export_manifest')
