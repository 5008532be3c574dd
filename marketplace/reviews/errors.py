"""The reviews domain's failures, each with a stable code (texts in zh-CN.toml [errors])."""

from __future__ import annotations

from marketplace.core.errors import Conflict, NotFound, PermissionDenied


class ReviewNotFound(NotFound):
    code = "review_not_found"
    message = "No such review."


class VoucherNotReviewable(Conflict):
    code = "voucher_not_redeemed"
    message = "Only a redeemed voucher can be reviewed."


class AlreadyReviewed(Conflict):
    code = "review_exists"
    message = "This visit has been reviewed already."


class AlreadyReplied(Conflict):
    code = "review_already_replied"
    message = "The merchant has replied to this review already."


class NotYourReview(PermissionDenied):
    code = "review_not_your_shop"
    message = "This review is about another shop."


class AlreadyHidden(Conflict):
    code = "review_already_hidden"
    message = "This review is hidden already."
