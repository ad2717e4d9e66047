"""Shared torch parts: losses (pure functions over scores), negative samplers, objectives that join
the two, and reusable scoring networks. Every module here imports torch; nothing above ``models``
imports this package at start-up.
"""
