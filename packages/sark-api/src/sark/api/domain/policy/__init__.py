"""Policy decisions: the decision service, its engines, caches and HTTP endpoints."""
