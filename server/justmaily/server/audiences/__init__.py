"""Audiences: contacts, lists, segments, consent and suppression (all personal data goes through
`repository.py`)."""
