"""Stable error codes of the deals domain."""

from marketplace.core.errors import Conflict, InvalidInput, NotFound


class DealRuleViolated(InvalidInput):
    """One or more of the deal-type rules; ``fields`` says which and why."""

    code = "deal_rules_violated"
    message = "The deal breaks the rules of its type."


class DealNotFound(NotFound):
    code = "deal_not_found"
    message = "No such deal."


class IllegalDealTransition(Conflict):
    code = "illegal_deal_transition"
    message = "The deal cannot do that in its current status."


class MerchantNotLive(Conflict):
    code = "merchant_not_live"
    message = "Only a live merchant's deals can be scheduled or go live."


class SlotTaken(Conflict):
    code = "slot_taken"
    message = "Another deal already has that publishing slot."


class PopupDayTaken(Conflict):
    code = "popup_day_taken"
    message = "Another deal already has the popup that day."


class StaleDeal(Conflict):
    code = "stale_version"
    message = "Someone changed this deal since you loaded it; reload and try again."


class SoldOut(Conflict):
    code = "sold_out"
    message = "Sorry, this deal is sold out."


class LimitReached(Conflict):
    code = "purchase_limit_reached"
    message = "You have bought as many of this deal as one shopper may."
