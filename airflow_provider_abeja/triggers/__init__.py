"""triggers of the ABEJA provider."""
