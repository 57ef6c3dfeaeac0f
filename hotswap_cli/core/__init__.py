"""Core: pure or repo-local logic returning typed data; never prints."""
