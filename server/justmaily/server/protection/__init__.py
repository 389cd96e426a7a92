"""Data protection (docs/data-protection.md): the key hierarchy — a key-encryption key (KEK) held by
a provider (`providers.py`: a local key file or a PKCS#11 token) wrapping per-workspace data keys
kept in the database (`hierarchy.py`, `models.py`) — and what is sealed with them (`fields.py`:
AES-256-GCM cells bound to their row, HMAC blind indexes for equality look-ups)."""
