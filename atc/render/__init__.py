"""Stage 4: render the linked knowledge base into Markdown pages through jinja2 templates."""
