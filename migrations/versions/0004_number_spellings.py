"""Number spellings: stored numbers that are not in normalised form, by their normalised form.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

This service stores numbers normalised, and normalises search values the same way.
Rows adopted from the FastAPI service keep numbers as its clients spelt them
(``+1 555-123-4567``); this table lets a search for ``+15551234567`` find them too.
Filled here from the rows present; on a new database it stays empty. The rules are
the ones this service validated numbers with when the revision was written.
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
PHONE_NUMBER_PATTERN = re.compile(r"^\+?[0-9]{3,15}$")
PHONE_NUMBER_SEPARATORS = re.compile(r"[\s\-.()]")
ROWS_PER_INSERT = 5_000
# The same on MySQL/MariaDB, where the separators are the ASCII ones (a number spelt with a
# tab or a Unicode space gets no spelling there, and is still listed under its account).
MYSQL_NORMALISED = (
    "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE({column}, ' ', ''), '-', ''), '.', ''),"
    " '(', ''), ')', '')"
)
# One statement per column: GROUP BY reads each column's index in order, with no
# temporary table. A spelling stored in both columns is recorded twice (lookups read
# distinct spellings).
MYSQL_FILL = """
INSERT INTO number_spellings (number, spelling)
SELECT number, spelling FROM (
    SELECT {normalised} AS number, {column} AS spelling FROM messages GROUP BY {column}
) AS stored
WHERE number <> spelling AND number REGEXP '^[+]?[0-9]{{3,15}}$'
"""


def upgrade() -> None:
    spellings = op.create_table(
        "number_spellings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("spelling", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_number_spellings"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_number_spellings_number", "number_spellings", ["number"])
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        # On the server: a million spellings never cross the connection.
        for column in ("sender_number", "receiver_number"):
            op.execute(
                MYSQL_FILL.format(column=column, normalised=MYSQL_NORMALISED.format(column=column))
            )
        return
    rows = [{"number": number, "spelling": spelling} for number, spelling in stored_spellings()]
    for start in range(0, len(rows), ROWS_PER_INSERT):
        op.bulk_insert(spellings, rows[start : start + ROWS_PER_INSERT])


def stored_spellings() -> list[tuple[str, str]]:
    """Every distinct stored number that normalises to a valid number other than itself."""
    messages = sa.table("messages", sa.column("sender_number"), sa.column("receiver_number"))
    connection = op.get_bind().execution_options(yield_per=10_000)
    found: set[tuple[str, str]] = set()
    for column in (messages.c.sender_number, messages.c.receiver_number):
        for (value,) in connection.execute(sa.select(column).distinct()):
            if value is None:
                continue
            number = PHONE_NUMBER_SEPARATORS.sub("", value)
            if number != value and PHONE_NUMBER_PATTERN.match(number):
                found.add((number, value))
    return sorted(found)


def downgrade() -> None:
    op.drop_table("number_spellings")
