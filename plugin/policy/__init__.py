"""Change-control and risk-review policies: the policy file, the engine, its actions and sweeps."""
