"""Hyper-V host gateways."""
