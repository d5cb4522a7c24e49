"""Identifier-type settings (SPEC 8a): changing and adding types, their impact before saving,
and the background work a saved change leaves.

- `labels`: the words stewards see for flags, normalisers and blocking reasons;
- `impact`: the refusals the data forces and the preview of a change, judged by the queue's
  own blocking function (identity.candidates.blocking) over the queue's own state
  (identity.candidates.states with the type's flags overridden);
- `services`: `change_identifier_type` and `add_identifier_type`, audited in their
  transaction through identity.hooks;
- `jobs`: the IdentifierTypeJob a change queues (blocking codes recomputed and detection for
  `matchable` / `auto_merge` changes; re-normalisation after a normaliser change), with progress.
"""
