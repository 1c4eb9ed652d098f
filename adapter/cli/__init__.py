"""The `gdwi` command line: one module per command group, `app` assembles them."""

from adapter.cli.app import app

__all__ = ["app"]
