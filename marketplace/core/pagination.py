"""Page-numbered lists with a hard maximum page size."""

from __future__ import annotations

from functools import cache
from typing import Any

import marshmallow as ma
import sqlalchemy as sa

from marketplace.core.db import db

MAX_PAGE_SIZE = 100


class PageArgsSchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=10_000))
    page_size = ma.fields.Integer(
        load_default=20,
        validate=ma.validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"at most {MAX_PAGE_SIZE}"},
    )


@cache
def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The response schema of a page of ``item_schema`` items."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(
        name,
        (ma.Schema,),
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema)),
            "page": ma.fields.Integer(),
            "page_size": ma.fields.Integer(),
            "total": ma.fields.Integer(metadata={"description": "items across all pages"}),
        },
    )


def paginate(query: sa.Select, page: int, page_size: int) -> dict[str, Any]:
    """One page of ``query`` (which must have a stable ORDER BY) plus the total count."""
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    items = db.session.scalars(query.limit(page_size).offset((page - 1) * page_size)).unique().all()
    return {"items": items, "page": page, "page_size": page_size, "total": total}
