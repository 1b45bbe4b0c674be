"""Storage layer."""
