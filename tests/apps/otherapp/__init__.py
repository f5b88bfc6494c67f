"""A second test app whose hooks.py imports frappe (not installed): its events are read from the AST."""
