"""deals.expiry_policy: a CHECK that it is one of the known policies (cs_call | auto_refund),
as every other enum column has; 0013 added the column without one.

Revision ID: 0014_expiry_policy_check
Revises: 0013_reviews_care
Create Date: 2026-12-02 12:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014_expiry_policy_check'
down_revision = '0013_reviews_care'
branch_labels = None
depends_on = None

KNOWN = "expiry_policy IN ('cs_call', 'auto_refund')"


def upgrade():
    # On SQLite batch mode rebuilds the table; the deals' other CHECKs are carried over from
    # the reflected table (tests/core/test_platform.py compares the CHECKs of both databases
    # with the models').
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_deals_known_expiry_policy'), KNOWN)


def downgrade():
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deals_known_expiry_policy'), type_='check')
