"""Directory (Active Directory) backends."""
