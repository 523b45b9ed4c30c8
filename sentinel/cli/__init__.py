"""The `sentinel` command, one module per command group."""
