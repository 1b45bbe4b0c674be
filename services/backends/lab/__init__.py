"""The embedded lab: a simulated contoso.local cluster."""
