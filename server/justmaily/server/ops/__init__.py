"""Operations: the service-level objectives (one file, `slos.toml`), the server's own compliance
and error budget, the Prometheus rules generated from the same file, `/metrics`, and the
sampler that stores indicator counts and reads gauges from the database."""
