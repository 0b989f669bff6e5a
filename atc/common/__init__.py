"""Helpers every stage may use: worker processes, progress, bundled resources, bounded regular expressions."""
