"""The harness proper: probes, checks, schemathesis fuzzing, reports and diffs (the heavy
imports of `wan26-contracts`)."""
