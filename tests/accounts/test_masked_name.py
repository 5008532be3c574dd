"""How public pages name a shopper (a review's author, a giveaway's winner): one rule,
on the User, never any part of the phone number."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import User


@pytest.mark.parametrize(
    ("display_name", "phone", "shown"),
    [
        ("张三", "13800001234", "张**"),
        ("  Lily ", "13800001234", "L**"),
        ("", "13800001234", "用户**"),
        ("   ", None, "用户**"),
        (None, "13800001234", "用户**"),
    ],
)
def test_a_shopper_is_named_by_the_first_character_of_their_name_only(display_name, phone, shown):
    user = User(display_name=display_name, phone=phone)

    assert user.masked_name == shown
    assert not any(digit in user.masked_name for digit in "0123456789")
