"""Payment status from the provider: the signed webhook (``service``) and syncing a pending
order's payment with the provider (``sync``). The Stripe client itself is a provider
(``marketplace/providers/stripe.py``)."""
