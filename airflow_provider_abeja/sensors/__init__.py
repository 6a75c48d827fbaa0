"""sensors of the ABEJA provider."""
