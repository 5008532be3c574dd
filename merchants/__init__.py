"""The merchant side: onboarding, grading, contracts, locations, the merchant portal and
settlement (see DESIGN.md, "Merchants")."""
