"""Vouchers: issued per unit of a paid order, redeemed once at the shop."""
