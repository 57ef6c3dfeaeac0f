"""`python -m hotswap_cli` entry point."""

from hotswap_cli.cli.app import main

main()
