"""payments hardening: payment_events.type holds every Stripe event type

Stripe event types run past 60 characters (70+ exist); a correctly signed event with a long
type was a 500 on PostgreSQL.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.alter_column(
            'type', existing_type=sa.String(length=60), type_=sa.String(length=100),
            existing_nullable=False,
        )


def downgrade():
    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.alter_column(
            'type', existing_type=sa.String(length=100), type_=sa.String(length=60),
            existing_nullable=False,
        )
