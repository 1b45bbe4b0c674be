"""Tests against a real Samba AD DC in a loopback-only network namespace (marker: samba)."""
