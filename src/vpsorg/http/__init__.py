"""The HTTP halves (FastAPI) of modules that services use too: pagination, idempotency."""
