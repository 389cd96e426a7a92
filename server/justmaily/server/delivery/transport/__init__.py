"""Getting a message to a relay: MIME (`message.py`), DKIM (`dkim.py`), SMTP with or without
pipelining (`smtp.py`, `pipelining.py`), relays' health (`relays.py`) and where they may point
(`relay_addresses.py`), and the pool of relays a sender picks from (`pool.py`)."""
