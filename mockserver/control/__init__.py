"""The `/_mock` control plane and the dashboard it serves."""
