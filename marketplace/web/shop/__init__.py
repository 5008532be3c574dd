"""The shoppers' mobile web at ``/``: home, lists by category and search, the deal page."""
