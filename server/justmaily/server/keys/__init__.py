"""Key material in one place: the files keys live in (`files.py`), what is sealed with them
(`sealed.py`), and every key the server holds (`ring.py`)."""
