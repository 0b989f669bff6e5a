"""atc: a detection team's Sigma rules as a browsable, searchable knowledge base.

The stages run in pipeline order, each a package: load, link, convert, render, site (driven by engine.py); the
commands are thin on top (commands/).
"""
