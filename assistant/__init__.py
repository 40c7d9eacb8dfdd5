"""Answering questions from the stored chunks, with citations; the CLI and the API live here too."""
