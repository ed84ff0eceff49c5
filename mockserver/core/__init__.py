"""The decision core: the order of checks, jobs, forced outcomes, the error catalogue, the
run-time model, accounts and generation. It returns decisions; it imports no Starlette."""
