"""Stable error codes of the giveaway."""

from marketplace.core.errors import Conflict, NotFound


class CampaignNotFound(NotFound):
    code = "giveaway_not_found"
    message = "No such giveaway."


class EntryNotFound(NotFound):
    code = "giveaway_entry_not_found"
    message = "No such giveaway entry."


class WindowClosed(Conflict):
    code = "giveaway_window_closed"
    message = "This giveaway is not taking entries."


class AlreadyEntered(Conflict):
    code = "giveaway_already_entered"
    message = "You have already entered this giveaway."


class SameScreenshot(Conflict):
    code = "giveaway_same_screenshot"
    message = "This screenshot was already sent for this giveaway."


class AlreadyDecided(Conflict):
    code = "giveaway_decided"
    message = "The winners of this giveaway are decided; entries can no longer change."


class StillOpen(Conflict):
    code = "giveaway_still_open"
    message = "The giveaway's window has not ended yet."


class DealNotEligible(Conflict):
    code = "giveaway_deal_not_eligible"
    message = "Only a scheduled, live or paused deal can be given away."
