"""Load and soak harness (``python -m tests.load``)."""
