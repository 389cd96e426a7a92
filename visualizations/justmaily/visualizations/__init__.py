"""pyqtgraph widgets fed by justmaily.shared schemas; no networking."""
