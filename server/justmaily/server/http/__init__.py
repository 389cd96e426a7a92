"""HTTP conventions shared by every domain: errors, request ids, rate limits, pagination, OpenAPI."""
