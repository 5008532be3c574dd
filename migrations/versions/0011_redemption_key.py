"""vouchers.redemption_key: the Idempotency-Key of the attempt that redeemed a voucher

A clerk's retry after a lost answer (a shop's poor network) is answered with the first
result instead of "already used".

Revision ID: 0011_redemption_key
Revises: 0010
Create Date: 2026-12-02 03:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_redemption_key'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redemption_key', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_column('redemption_key')
