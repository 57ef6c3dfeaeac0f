"""`python -m hotswap_cli` entry point."""

from hotswap_cli.cli.main import main

main()
