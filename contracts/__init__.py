"""Contract tests and drift detection: does a server still behave like `openapi.yaml`?"""
