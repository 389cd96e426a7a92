"""The desktop's sync and offline engine: plain Python, tested without widgets; the Qt layer adapts it."""
