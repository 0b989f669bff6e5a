"""Helpers every stage may use: the build's cache and its fingerprint policy, worker processes, progress, bundled
resources, bounded regular expressions."""
