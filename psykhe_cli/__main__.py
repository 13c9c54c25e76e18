"""`python -m psykhe_cli` runs the same entry point as the `psykhe` script."""

from psykhe_cli.cli import main

main()
