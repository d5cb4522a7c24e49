"""The HTTP API (SPEC 10): views, URLs, bearer tokens, the middleware that serves `/api/` ahead
of the pages' middleware, and the OpenAPI document."""
