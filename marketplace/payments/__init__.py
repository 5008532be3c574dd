"""Payments through the Stripe API (one client module) and its webhooks."""
