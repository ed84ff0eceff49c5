"""The light contract core: the contract and its validator, money, key masking, the cassette
format. It imports nothing heavy and nothing else of the project, so the client, the harness
and the emulator all build on it."""
