"""The trust domain: transparency log, certificates, service credentials."""
