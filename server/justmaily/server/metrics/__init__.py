"""What the server counts for Prometheus (`instruments.py`), the service-level indicators it
counts for its own SLO compliance (`sli.py`), and how both are exposed across the workers of one
machine (`exposition.py`). Imports nothing of ours: every layer may count."""
