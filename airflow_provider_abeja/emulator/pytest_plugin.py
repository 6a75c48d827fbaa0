"""pytest plugin: the `abeja_emulator` fixture (built in the emulator issue)."""
