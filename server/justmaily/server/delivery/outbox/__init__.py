"""The outbox: one row per message of a send, and the only code that reads or writes those rows.
`queue.py` queues a send's recipients, claims what is due and recovers after a crash; `writer.py`
stores what happened to each message, in groups."""
