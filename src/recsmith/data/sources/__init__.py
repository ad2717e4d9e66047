"""Data sources: each registers a reader by name (see base.py)."""
