"""money rules: a negative statement is carried into the party's next statement

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 19:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('carried_from_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_statement_lines_carried_from_id'), ['carried_from_id']
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_statement_lines_carried_from_id_statements'),
            'statements',
            ['carried_from_id'],
            ['id'],
        )


def downgrade():
    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_statement_lines_carried_from_id_statements'), type_='foreignkey'
        )
        batch_op.drop_constraint(batch_op.f('uq_statement_lines_carried_from_id'), type_='unique')
        batch_op.drop_column('carried_from_id')
