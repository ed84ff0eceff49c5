"""The server: uvicorn set up the emulator's way, deadlines, worker processes."""
