"""Command line: parse -> call core or runner -> render. The only layer that prints."""
