"""Liveness, readiness and start-up probes (public: no data in them)."""
