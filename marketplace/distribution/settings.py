"""Distribution's run-time settings (join policy, binding mode, …): stored rows with
defaults, changed by an admin and audited."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.core.errors import InvalidInput
from marketplace.distribution.models import PlatformSetting

SETTINGS: dict[str, tuple[Any, Any]] = {
    # key: (default, validator)
    "join_policy": ("open", lambda v: v in ("open", "application", "invitation")),
    "binding_mode": ("permanent", lambda v: v in ("permanent", "time_limited")),
    "rebind_after_days": (30, lambda v: isinstance(v, int) and 1 <= v <= 365),
    "self_purchase_commission": (False, lambda v: isinstance(v, bool)),
}


def setting(key: str) -> Any:
    row = db.session.get(PlatformSetting, key)
    return SETTINGS[key][0] if row is None else row.value


def all_settings() -> dict[str, Any]:
    """Every setting, read in one query (a missing row is its default)."""
    stored = dict(
        db.session.execute(
            sa.select(PlatformSetting.key, PlatformSetting.value).where(
                PlatformSetting.key.in_(list(SETTINGS))
            )
        ).all()
    )
    return {key: stored.get(key, default) for key, (default, _) in SETTINGS.items()}


def update_settings(changes: dict[str, Any], actor: User) -> dict[str, Any]:
    """Admin changes run-time settings. Changing the binding mode never rewrites past
    bindings or the attribution already on orders: it only governs future links."""
    bad = {k: ["Not a valid value."] for k, v in changes.items() if not SETTINGS[k][1](v)}
    if bad:
        raise InvalidInput(fields=bad)
    for key, value in changes.items():
        row = db.session.get(PlatformSetting, key)
        before = setting(key)
        if row is None:
            db.session.add(PlatformSetting(key=key, value=value, updated_by_id=actor.id))
        else:
            row.value, row.updated_by_id, row.updated_at = value, actor.id, now()
        audit.record(
            "setting", key, "setting.changed", actor_id=actor.id, data={"from": before, "to": value}
        )
    db.session.flush()
    return all_settings()
