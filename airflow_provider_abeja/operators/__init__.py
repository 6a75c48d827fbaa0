"""operators of the ABEJA provider."""
