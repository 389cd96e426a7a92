"""The JustMaily server: REST API, CRDT rooms, delivery and the trust log, organised by domain."""
