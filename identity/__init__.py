"""Identity: identifiers, resolving writes to profiles, finding suspected duplicates, candidates.

Above `profiles` (the person and their events), below `merges` (which it never imports: see
`identity.hooks`). Subpackages by concern:

- `writing/`: resolving incoming writes to profiles (SPEC 3), imports, steward edits;
- `matching/`: finding suspected duplicates (SPEC 4), the pure scoring core and the SQL;
- `candidates/`: suspected duplicates, their lifecycle, blocking reasons (SPEC 5) and review;
- `api/`: the HTTP API (SPEC 10).

Beside them: the models, the pages (`views`, `urls`), the Celery tasks, the normalisers
(SPEC 2), `changes.profiles_changed` (the one hook every writer calls) and `profiles` (reads of
profiles through their identifiers).
"""
