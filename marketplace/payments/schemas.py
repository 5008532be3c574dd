"""Shapes of the provider's webhook."""

from __future__ import annotations

import marshmallow as ma


class WebhookResultSchema(ma.Schema):
    outcome = ma.fields.String()
