"""Tools for developing this repository (`make docs`): never installed, never in the image."""
