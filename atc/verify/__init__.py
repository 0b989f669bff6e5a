"""Prove queries on events: example events, SigmaHQ regression tests, and the runners (grep, SQLite, simulated PowerShell)."""
