"""Application services: what a person can ask of lprx, for the CLI and an HTTP API.

Each is a plain function (or small class) over settings and connectors that returns
data and raises ``schemas.errors`` (``RequestRefused`` and its kinds for a refusal with
its reason, ``TransientError`` when Kafka or Cassandra did not answer); none prints.

- ``access``: audited access (purpose check, "no audit, no access", results counted)
- ``reads``: look-ups of stored reads
- ``hits``: the hits delivered to an agency, and dispositions of a hit
- ``hotlists``: load a hotlist file (parse, publish, audit)
- ``agreements``: grant and revoke sharing agreements
- ``deadletters``: the dead-letter topic
- ``audit``: the audit trail of a day
"""
