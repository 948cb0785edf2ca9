"""Application services: what a person can ask of lprx, for the HTTP API (and the CLI through it).

Each is a plain function (or small class) over settings and connectors that returns
data and raises ``schemas.errors`` (``RequestRefused`` and its kinds for a refusal with
its reason, ``TransientError`` when Kafka or Cassandra did not answer); none prints.

- ``scope``: what a person's agency may see by agreement, and audited access (a
  justification checked, "no audit, no access", the ids shown recorded)
- ``search``: scoped search of stored reads (plate, partial plate, window, area, pages)
- ``scoped``: hits, crops and the audit trail as a person may see them
- ``hits``: dispositions of a hit
- ``hotlists``: load a hotlist file (parse, publish, audit)
- ``agreements``: grant and revoke sharing agreements
- ``deadletters``: the dead-letter topic
- ``audit``: the UTC day of an audit event
"""
