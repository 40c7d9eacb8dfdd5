"""The prompt templates of the language-model backends (package data: *.txt)."""
