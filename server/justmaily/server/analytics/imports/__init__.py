"""Other platforms' exports read into our events: one reader per format, all giving `rows.Event`s."""
