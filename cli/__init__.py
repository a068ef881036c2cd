"""The `replicheck` command line."""
