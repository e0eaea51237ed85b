"""`hindsight doctor`: check that the configured Jira lets Hindsight do what its policy asks.

Each check is data (`Check`: what was checked, pass/fail/warn/skip, what was found, how to fix
it); the CLI renders them. What is checked, against Atlassian's documented resources:

- credentials and deployment type (`GET /serverInfo`, then `GET /myself`);
- who the service account is, and that it is the one the loop guard expects;
- each permission the policy needs, by Jira's own key, in each project a rule scopes
  (`GET /mypermissions?projectKey=&permissions=`: Cloud requires `permissions`);
- every field the policy names exists (`GET /field`) and has a type its predicate can read;
- each guarded move has a transition back (read from the transitions of sample issues: Jira
  shows workflows only to administrators), unless the rule's guard says `revert: false`;
- group membership is readable (on Cloud the *Browse users and groups* global permission,
  then, on both flavours, the adapter's own per-flavour lookup on the service account);
- suggestions' public URL is set.
"""

from plugin.doctor.model import Check, CheckStatus, DoctorJira, DoctorReport
from plugin.doctor.runner import Doctor

__all__ = ["Check", "CheckStatus", "Doctor", "DoctorJira", "DoctorReport"]
