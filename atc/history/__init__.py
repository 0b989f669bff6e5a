"""Rule history from git: the commits that touched each rule (following moves), what they changed in its metadata and
queries, and what changed in the knowledge base per tag or month (the changes page and its Atom feed)."""
