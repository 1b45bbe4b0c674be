"""Backends layer."""
