"""links of the ABEJA provider."""
