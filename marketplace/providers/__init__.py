"""Edges Linli cannot run locally, each behind a small interface with a dev implementation
chosen by a setting."""
