"""Loading documents and cutting them into chunks. Imports nothing from the rest of the project."""
