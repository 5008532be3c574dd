"""Stable error codes of the merchants domain."""

from marketplace.core.errors import Conflict, InvalidInput, PayloadTooLarge


class IllegalStageTransition(Conflict):
    code = "illegal_stage_transition"
    message = "The merchant cannot move to that stage from where it is."


class ContractsMissing(Conflict):
    code = "contracts_missing"
    message = "All three documents must be signed first."


class StaleVersion(Conflict):
    code = "stale_version"
    message = "Someone changed this merchant since you loaded it; reload and try again."


class CategoryRetired(InvalidInput):
    code = "category_retired"
    message = "That category is retired and takes no new merchants."


class FileNotAllowed(InvalidInput):
    code = "file_type_not_allowed"
    message = "Upload a PDF, JPEG or PNG file."


class FileTooLarge(PayloadTooLarge):
    pass
