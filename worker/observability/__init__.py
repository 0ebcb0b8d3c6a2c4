"""Logs (JSON events, secrets redacted) and Prometheus metrics shared by every process."""
