"""The embedded stack: everything on one machine, nothing to install (`make run`)."""
