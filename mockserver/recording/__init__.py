"""Record, replay and passthrough: what the emulator does with a cassette and an upstream."""
