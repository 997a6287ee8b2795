"""What the service tells its operators: Prometheus metrics at /metrics and one log line per callback."""
