"""Sends of approved campaigns: creating and steering them (`service.py`, `controllers.py`),
their A/B tests (`ab_testing.py`), their course as the sender runs them (`lifecycle.py`), and
cancelling those an approval no longer covers (`withdrawal.py`)."""
