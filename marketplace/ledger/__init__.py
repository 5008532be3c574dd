"""The money ledger: balanced, immutable entries for every event that moves money."""
