"""The HTTP service for county systems (``eligibility serve``; the extra ``eligibility[server]``).

Java and .NET systems on a government intranet call the library over HTTP: one household in, the
Decision JSON out — the same bytes ``eligibility evaluate`` prints — plus explanations, streamed
batches, the rules themselves and JSON Schemas of input and output. docs/service.md is the guide.

Parts: :mod:`.app` (routes, key check, limits, problem documents), :mod:`.batch` (the JSON Lines
route), :mod:`.rules` (packs, parameters, rules), :mod:`.keys` (hashed keys, rate limit),
:mod:`.state` (rules loaded once, reloaded on SIGHUP), :mod:`.problems` (RFC 9457), :mod:`.server`
(uvicorn and the command).
"""

from __future__ import annotations

from .app import Limits, create_app, decision_schema, household_schema
from .keys import KeyStore, add_key, hash_key
from .state import State, ruleset_fingerprint

__all__ = [
    "KeyStore",
    "Limits",
    "State",
    "add_key",
    "create_app",
    "decision_schema",
    "hash_key",
    "household_schema",
    "ruleset_fingerprint",
]
