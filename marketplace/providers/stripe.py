"""The Stripe API, spoken with ``requests``: PaymentIntents, Refunds and webhook signatures.

One small client for the real API, Stripe's stripe-mock and the local ``localstripe``
server alike; only the base URL and key differ (settings). Every POST carries an
Idempotency-Key (real Stripe honours it; localstripe does not, so exactly-once never rests
on the provider). Connection errors, 5xx, 429 and a 409 marked ``Stripe-Should-Retry: true``
are retried by urllib3 with a short backoff (Retry-After capped at two seconds); what still
fails becomes ``ProviderUnavailable`` (503, try later) or a ``ProviderError`` (a refusal:
404 ``ProviderNotFound``, card errors ``CardDeclined``, else 502), which keeps the provider's
status, error type and code for logs and jobs and tells the shopper something they can act on.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from marketplace.core.errors import DomainError

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 15
SIGNATURE_TOLERANCE = 300  # seconds, as Stripe's own libraries


MAX_RETRY_AFTER = 2  # seconds: a Retry-After never holds a request thread longer
RETRY_STATUSES = (409, 429, 500, 502, 503, 504)


class _ProviderProblem(DomainError):
    """What the provider said, kept for logs, jobs and customer service (never shown to the
    shopper verbatim: its English is written for developers)."""

    def __init__(
        self,
        message: str | None = None,
        *,
        provider_status: int | None = None,
        provider_type: str | None = None,
        provider_code: str | None = None,
        decline_code: str | None = None,
        provider_message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.provider_status = provider_status
        self.provider_type = provider_type
        self.provider_code = provider_code
        self.decline_code = decline_code
        self.provider_message = provider_message

    def describe(self) -> str:
        """One line for logs and ``last_error``: ``code: http type/code``."""
        parts = [str(p) for p in (self.provider_type, self.provider_code) if p]
        return f"{self.code}: {self.provider_status or '-'} {'/'.join(parts) or '-'}"


class ProviderUnavailable(_ProviderProblem):
    """Down, overloaded or rate limiting us: worth trying again later."""

    status = 503
    code = "payment_provider_unavailable"
    message = "The payment service is not answering; your order is kept, try paying again."


class ProviderError(_ProviderProblem):
    """The provider refused the request (a 4xx): trying again the same way will not help."""

    status = 502
    code = "payment_provider_error"
    message = (
        "The payment could not be started right now; your order is kept. Please try again "
        "later or contact customer service."
    )


class ProviderNotFound(ProviderError):
    """404: the object (a PaymentIntent, a refund) does not exist at the provider."""

    code = "payment_not_found"
    message = "The payment service does not know this payment; contact customer service."


class CardDeclined(ProviderError):
    status = 402
    code = "card_declined"
    message = "The card was declined; try another card."


class _StripeRetry(Retry):
    """urllib3's Retry with Stripe's rules: ``Stripe-Should-Retry`` decides when present
    (``false``: never, ``true``: yes, even a 409); a 409 without it is not retried (an
    idempotency conflict stays one); ``Retry-After`` is capped at MAX_RETRY_AFTER."""

    def increment(
        self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None
    ):
        if response is not None:
            should = (response.headers.get("Stripe-Should-Retry") or "").lower()
            if should == "false" or (response.status == 409 and should != "true"):
                raise MaxRetryError(_pool, url, None)  # give this answer back as it is
        return super().increment(method, url, response, error, _pool, _stacktrace)


class InvalidSignature(DomainError):
    status = 400
    code = "invalid_signature"
    message = "The webhook signature does not verify."


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: metadata[order_id]=5, payment_method_types[]=card."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, Mapping):
            pairs.extend(_flatten(value, name))
        elif isinstance(value, list | tuple):
            pairs.extend((f"{name}[]", str(v)) for v in value)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


@dataclass
class StripeClient:
    base_url: str
    secret_key: str
    retries: int = 2

    def __post_init__(self) -> None:
        self.session = requests.Session()
        # Every POST carries an Idempotency-Key, so repeating one is safe.
        retry = _StripeRetry(
            total=self.retries,
            connect=self.retries,
            read=0,  # a read timeout may mean the provider acted: do not blindly repeat
            status=self.retries,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST", "DELETE"}),
            backoff_factor=0.25,
            backoff_max=MAX_RETRY_AFTER,
            raise_on_status=False,
            respect_retry_after_header=True,
            retry_after_max=MAX_RETRY_AFTER,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.headers["Authorization"] = f"Bearer {self.secret_key}"
        self.session.headers["Stripe-Version"] = "2024-06-20"
        # The environment's proxy and CA settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE)
        # are read once, here: requests would otherwise scan the whole environment on every
        # call (a flash winner's call included), and could let a ~/.netrc entry replace
        # the Authorization header above.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self.session.trust_env = False

    def _call(
        self,
        method: str,
        path: str,
        data: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        url = self.base_url.rstrip("/") + path
        form = _flatten(data or {})
        if method == "GET":
            body, params = None, form
        else:
            # Stripe (and stripe-mock, which checks it) wants a form body on every POST,
            # even an empty one: `requests` sends no Content-Type for no data.
            body, params = urlencode(form), None
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=body,
                headers=headers,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except requests.RequestException as exc:
            log.warning("stripe %s %s failed: %s", method, path, exc)
            raise ProviderUnavailable() from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        error = (body.get("error") if isinstance(body, dict) else None) or {}
        details = {
            "provider_status": response.status_code,
            "provider_type": error.get("type"),
            "provider_code": error.get("code"),
            "decline_code": error.get("decline_code"),
            "provider_message": error.get("message") or response.reason,
        }
        transient = response.status_code == 429 or (
            response.status_code == 409
            and response.headers.get("Stripe-Should-Retry", "").lower() == "true"
        )
        if response.status_code >= 500 or transient:
            log.warning("stripe %s %s answered %s", method, path, response.status_code)
            raise ProviderUnavailable(**details)
        if not isinstance(body, dict):
            log.error("stripe %s %s answered something unreadable", method, path)
            raise ProviderError(**details)
        if response.status_code >= 400:
            log.error(
                "stripe %s %s answered %s %s/%s: %s",
                method,
                path,
                response.status_code,
                details["provider_type"],
                details["provider_code"],
                details["provider_message"],
            )
            if response.status_code == 404:
                raise ProviderNotFound(**details)
            if response.status_code == 402 or details["provider_type"] == "card_error":
                raise CardDeclined(**details)
            raise ProviderError(**details)
        return body

    # -- the calls Linli makes -----------------------------------------------------------

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: Mapping[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/v1/payment_intents",
            {
                "amount": amount,
                "currency": currency,
                "metadata": metadata,
                "payment_method_types": ["card"],
            },
            idempotency_key,
        )

    def retrieve_payment_intent(self, intent_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/payment_intents/{intent_id}")

    def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/payment_intents/{intent_id}/cancel", {}, idempotency_key)

    def create_refund(
        self, *, payment_intent: str, amount: int, metadata: Mapping[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/v1/refunds",
            {
                "payment_intent": payment_intent,
                "amount": amount,
                "metadata": metadata,
            },
            idempotency_key,
        )

    def retrieve_refund(self, refund_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/refunds/{refund_id}")

    def list_refunds(self, payment_intent: str) -> list[dict[str, Any]]:
        page = self._call("GET", "/v1/refunds", {"payment_intent": payment_intent, "limit": 100})
        return page["data"]

    # -- what a shopper's browser does with Stripe.js; for tests and the demo ------------

    def pay_with_test_card(self, intent_id: str, card: str = "4242424242424242") -> dict[str, Any]:
        """Attach a test card and confirm, the way localstripe accepts it."""
        method = self._call(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            },
        )
        self._call("POST", f"/v1/payment_intents/{intent_id}", {"payment_method": method["id"]})
        return self._call("POST", f"/v1/payment_intents/{intent_id}/confirm")


def verify_signature(
    payload: bytes,
    header: str,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE,
) -> None:
    """Check a ``Stripe-Signature`` header (``t=…,v1=…``): HMAC-SHA256 of ``t.payload`` with
    the endpoint secret, and a timestamp within ``tolerance`` seconds."""
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("No timestamp in the Stripe-Signature header.") from exc
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    # Bytes, not str: compare_digest refuses str with non-ASCII characters (a 500).
    if not any(
        hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace"))
        for sig in parts.get("v1", [])
    ):
        raise InvalidSignature()
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise InvalidSignature(
            "The webhook is too old (or from the future).", code="stale_signature"
        )


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header for ``payload``, as the provider makes it (tests)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def idempotency_key(purpose: str, entity_id: int | str, created_at: datetime | None = None) -> str:
    """The one way an Idempotency-Key is made: ``linli-<installation>-<purpose>-<id>[-<t>]``.

    Stripe keeps keys for 24 hours per account. The installation id keeps two environments
    on one account apart; the row's creation time (seconds) keeps apart two rows that got
    the same id, e.g. after a database was restored from a backup."""
    installation = current_app.config["LINLI_INSTALLATION_ID"]
    key = f"linli-{installation}-{purpose}-{entity_id}"
    if created_at is not None:
        key += f"-{int(created_at.timestamp())}"
    return key


def _installation_id(app: Flask) -> str:
    """LINLI_INSTALLATION_ID, or (development, tests) a random one kept in the instance
    folder, so every restart of this installation uses the same one."""
    configured = app.config.get("LINLI_INSTALLATION_ID")
    if configured:
        return configured
    path = Path(app.instance_path) / "installation-id"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    generated = "dev-" + secrets.token_hex(6)
    try:
        with path.open("x", encoding="ascii") as handle:  # the first process wins
            handle.write(generated + "\n")
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    return generated


def init_payments(app: Flask) -> None:
    app.config["LINLI_INSTALLATION_ID"] = _installation_id(app)
    app.extensions["linli.stripe"] = StripeClient(
        app.config["LINLI_STRIPE_API_BASE"], app.config["LINLI_STRIPE_SECRET_KEY"]
    )


def stripe() -> StripeClient:
    return current_app.extensions["linli.stripe"]
