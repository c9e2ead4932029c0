"""ui: the terminal dashboard (textual), attached to a running stack with `tars ui`."""
