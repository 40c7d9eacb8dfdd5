"""The bundled default collection (package data: *.md), ingested on first start when the store is empty."""
