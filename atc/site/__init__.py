"""Stage 5: write the pages into docs/ and build the static site with mkdocs."""
