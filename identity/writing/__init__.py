"""Writing identifiers and attributes (SPEC 3): parsing and validating a record, resolving it
to a profile under advisory locks (`resolution`), API group commit (`batching`), idempotency
keys, CSV imports (`importer`), and a steward's identifier edits (`edits`)."""
