"""Stage 1: read the knowledge base's files into the model."""
