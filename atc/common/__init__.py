"""What every stage uses: the build's cache and its fingerprint policy."""
