"""Test doubles and builders shared by the test suite (`tests/`) and the benchmarks (`bench/`).

Never shipped (the wheel holds only `hindsight`, `kb`, `plugin` and `webhooks`), and no product
package imports it (`tests/test_architecture.py`). What stands in for what:

- `testkit.fakejira`: a faithful fake Jira over real HTTP, Cloud or Data Center flavour, for the
  real adapter and end-to-end tests (its README lists the setup API, faults and fixtures).
- `testkit.memory_jira`: `MemoryJira`, a `JiraPort` in memory for unit tests of the policy engine
  and the lessons features; records every write, fails any method on demand (`fail`).
- `testkit.kb`: `HashingEmbedder` (a deterministic embedder, no model) and `FakeIndex` (lessons
  in a list, scored by word-count cosine).
- `testkit.clock`: `StepClock`, a clock that stands still until moved.
- `testkit.audit`: `FakeAudit`, an audit source held in memory, for the lessons pages.

Every `JiraPort` implementation, this package's included, passes the same conformance cases:
`tests/plugin/test_jira_conformance.py`.
"""
