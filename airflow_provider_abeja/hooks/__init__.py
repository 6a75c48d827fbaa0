"""hooks of the ABEJA provider."""
