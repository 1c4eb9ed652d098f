"""`python -m adapter.cli` runs the `gdwi` command line."""

from adapter.cli.app import app

app()
