"""`POST /api/v1/profiles/batch` (SPEC 10): up to MAX_RECORDS writes in one request.

Each record is a write shaped like an upsert's body, resolved exactly as an upsert would be, in
order (a later record sees the earlier ones), in one transaction: the same `resolve_writes` that
imports use. A record that is invalid rejects only itself: the answer holds one result or one
error per record, by its index, and the error names the field (`records[3].record.email`).
"""

import json

from django.http import JsonResponse

from identity.api.views import (
    STALE_ATTEMPTS,
    api_error,
    api_view,
    authenticate_token,
    bearer_token,
    unauthorized,
)
from identity.writing.batching import response_of
from identity.writing.parsing import InvalidWrite, parse_write
from identity.writing.resolution import (
    Expected,
    ResolutionBusy,
    Stale,
    identifier_types,
    known_types,
    resolve_writes,
)
from profiles.numbers import whole_number

MAX_RECORDS = 1000
MAX_BODY_BYTES = 4 * 1024 * 1024


@api_view("POST", accepted_tokens=True)
def batch(request):
    records, error = _read_records(request)
    if error:
        return error
    api_token, types = request.api_token, known_types()
    for _ in range(STALE_ATTEMPTS):
        results, writes = _parse_all(records, types=types, source=api_token.name)
        expected = Expected(
            fingerprints=frozenset([types.fingerprint]), token_ids=frozenset([api_token.pk])
        )
        try:
            _resolve(results, writes, expected)
            break
        except Stale:  # parsed under types or a token that changed meanwhile: read afresh
            api_token = authenticate_token(bearer_token(request))
            if api_token is None:
                return unauthorized(bearer_token(request))
            types = identifier_types(api_token.types_fingerprint)
    else:
        return api_error(503, "busy", "the identifier types kept changing", Retry_After="1")
    statuses = [result["status"] for result in results]
    return JsonResponse({
        "results": results,
        "created": statuses.count(201),
        "matched": statuses.count(200),
        "rejected": len(statuses) - statuses.count(201) - statuses.count(200),
    })


def _read_records(request):
    """The body's list of records, or an error response about the body as a whole."""
    if request.headers.get("Idempotency-Key") is not None:
        return None, api_error(
            400, "invalid", "batches take no Idempotency-Key: send each keyed write to "
            "/api/v1/profiles/upsert (a batch sent again resolves to the same profiles)",
            "Idempotency-Key",
        )
    length = whole_number(request.META.get("CONTENT_LENGTH") or "0")
    too_large = length is not None and length > MAX_BODY_BYTES
    if not too_large:
        raw = request.read(MAX_BODY_BYTES + 1)
        too_large = len(raw) > MAX_BODY_BYTES
    if too_large:
        return None, api_error(
            413, "too_large", f"a batch's body is at most {MAX_BODY_BYTES:,} bytes", "body"
        )
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return None, api_error(400, "invalid_json", f"the body is not valid JSON: {error}", "body")
    except RecursionError:
        return None, api_error(400, "invalid_json", "the body is nested too deeply", "body")
    if not isinstance(payload, dict):
        return None, api_error(400, "invalid", 'the body is an object: {"records": [...]}', "body")
    records = payload.get("records")
    if not isinstance(records, list) or not records:
        return None, api_error(
            400, "invalid", "records must be a non-empty list of writes", "records"
        )
    if len(records) > MAX_RECORDS:
        return None, api_error(
            413, "too_many_records",
            f"a batch holds at most {MAX_RECORDS:,} records, this one {len(records):,}: "
            "split it", "records",
        )
    return records, None


def _parse_all(records, *, types, source):
    """(a result per record, holding its error when it is invalid; [(index, Write)])."""
    results = []
    writes = []
    for index, record in enumerate(records):
        try:
            writes.append((index, parse_write(record, types=types, source=source)))
            results.append(None)
        except InvalidWrite as invalid:
            results.append(_error(index, 400, invalid.code, invalid.message,
                                  _field(index, invalid.field)))
    return results, writes


def _field(index, field):
    where = f"records[{index}]"
    return where if field == "body" else f"{where}.{field}"


def _error(index, status, code, message, field=None):
    return {"index": index, "status": status,
            "error": {"code": code, "message": message, "field": field}}


def _resolve(results, writes, expected):
    """Fill in the result of each valid write: all in one transaction, or, when that keeps
    meeting concurrent changes, each alone (one busy record costs only itself)."""
    if not writes:
        return
    try:
        resolutions = resolve_writes([write for _, write in writes], expected=expected)
    except ResolutionBusy:
        resolutions = []
        for index, write in writes:
            try:
                resolutions.extend(resolve_writes([write], expected=expected))
            except ResolutionBusy as busy:
                resolutions.append(_error(index, 503, "busy", str(busy)))
    for (index, _), resolution in zip(writes, resolutions, strict=True):
        if isinstance(resolution, dict):
            results[index] = resolution
        else:
            status, body = response_of(resolution)
            results[index] = {"index": index, "status": status, **body}
