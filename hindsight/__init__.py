"""Hindsight's composition root: configuration and the `hindsight` command line.

The packages below it keep their own concerns: `kb` (knowledge base), `plugin` (Jira-side
policy, rules and the Jira port) and `webhooks` (the HTTP edge). Only this package wires them.
"""

__version__ = "0.1.0"
