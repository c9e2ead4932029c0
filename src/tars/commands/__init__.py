"""Implementations of the `tars` sub-commands that are more than a call into a service."""
