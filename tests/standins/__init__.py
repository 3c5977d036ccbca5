"""Stand-ins of third-party video APIs, faithful to their documented behaviour, for integration tests."""
