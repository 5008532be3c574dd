"""Stable error codes of the accounts domain."""

from marketplace.core.errors import AuthenticationRequired, PermissionDenied


class OtpInvalid(AuthenticationRequired):
    code = "otp_invalid"
    message = "That code is not right. Check the SMS or request a new code."


class OtpExpired(AuthenticationRequired):
    code = "otp_expired"
    message = "That code has expired. Request a new code."


class OtpExhausted(AuthenticationRequired):
    code = "otp_exhausted"
    message = "Too many wrong tries: that code no longer works. Request a new code."


class InvalidCredentials(AuthenticationRequired):
    code = "invalid_credentials"
    message = "Wrong username or password."


class InvalidToken(AuthenticationRequired):
    code = "invalid_token"
    message = "The token is not valid; log in again."


class TokenExpired(AuthenticationRequired):
    code = "token_expired"
    message = "The token has expired; log in again."


class AccountDisabled(AuthenticationRequired):
    code = "account_disabled"
    message = "This account is disabled. Contact customer service."


class PasswordLoginRequired(PermissionDenied):
    code = "password_login_required"
    message = "Staff and merchant accounts log in with username and password."


class PasswordChangeRequired(PermissionDenied):
    code = "password_change_required"
    message = "Change the initial password before doing anything else."
