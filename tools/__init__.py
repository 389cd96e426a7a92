"""Developer tools that are not part of the shipped package (run with `python -m tools.NAME`)."""
