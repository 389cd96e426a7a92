"""The PySide6 desktop client (see issue: desktop app). Qt is imported only under this package."""
