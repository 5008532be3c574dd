"""The shop's monthly statements: the list, one statement with its lines (voucher, order,
the day it was used, the settlement price) and its status (issued; paid with the bank
reference and date), and its CSV for the shop's books.

The CSV is for a person opening it in Excel or WPS: UTF-8 with a byte-order mark (without
it Excel on Windows shows the Chinese headers as mojibake), money in yuan with two decimals
computed from integer fen (``filters.yuan``: never a float), times in Asia/Shanghai, a
total row. The API's ``/settlements/statements/{id}/csv`` stays the machine's format."""

from __future__ import annotations

import csv
import io

from flask import Response, render_template

from marketplace.accounts.auth import current_user
from marketplace.core.clock import to_local
from marketplace.settlement import service as settlement
from marketplace.web.filters import local_datetime, yuan
from marketplace.web.merchant import bp
from marketplace.web.merchant.common import member, portal_page
from marketplace.web.routing import page_of
from marketplace.web.texts import t

BOM = "\ufeff"


@bp.get("/statements")
@portal_page
def statements():
    place = member()
    listed = page_of(settlement.my_statements(current_user(), "merchant"))
    return render_template(
        "merchant/statements.html",
        place=place,
        items=listed["items"],
        page=listed["page"],
        pages=listed["pages"],
        active="statements",
    )


@bp.get("/statements/<int:statement_id>")
@portal_page
def statement(statement_id: int):
    """One statement (another shop's: the 404 page), its lines a page at a time (a busy
    shop has thousands a month; the CSV has them all); the total is the statement's."""
    place = member()
    found = settlement.merchant_statement(statement_id, current_user())
    lines = page_of(settlement.statement_lines(found))
    return render_template(
        "merchant/statement.html",
        place=place,
        statement=found,
        rows=settlement.statement_rows(found, lines["items"]),
        lines=lines,
        active="statements",
    )


def statement_csv_text(statement, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ("period", "kind", "voucher", "order", "used_at", "deal", "amount")
    writer.writerow([t(f"merchant.csv_{c}") for c in columns])
    for row in rows:
        writer.writerow(
            [
                statement.period,
                t(f"merchant.line_{row['kind']}"),
                row["voucher_code"],
                row["order_id"] or "",
                local_datetime(row["redeemed_at"]) if row["redeemed_at"] else "",
                row["deal"],
                yuan(row["amount"]),
            ]
        )
    writer.writerow(
        [statement.period, t("merchant.csv_total"), "", "", "", "", yuan(statement.total)]
    )
    if statement.status == "paid":
        writer.writerow(
            [statement.period, t("merchant.csv_paid"), statement.payout_reference or "", "",
             statement.paid_on.isoformat() if statement.paid_on else "", "", ""]
        )  # fmt: skip
    return BOM + out.getvalue()


@bp.get("/statements/<int:statement_id>.csv")
@portal_page
def statement_csv(statement_id: int):
    """The statement for the shop's books (another shop's: the 404 page)."""
    found = settlement.merchant_statement(statement_id, current_user())
    body = statement_csv_text(found, settlement.statement_rows(found))
    made = to_local(found.created_at).strftime("%Y%m%d")
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": (
                f'attachment; filename="statement-{found.period}-{found.id}-{made}.csv"'
            ),
            "Cache-Control": "private, no-store",
        },
    )
