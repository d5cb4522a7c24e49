"""The HTTP API of SPEC section 10: JSON in and out, `Authorization: Bearer <token>`.

Views parse, authenticate and call one service or selector. Errors are
`{"error": {"code", "message", "field"}}`, made by `api_error` and nowhere else.
"""

import json
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from config.logging import set_user
from identity import hooks
from identity.api import ratelimit
from identity.api.openapi import openapi_document, with_token_refusals
from identity.api.tokens import authenticate_token, revoked_at
from identity.candidates.selectors import candidates_after
from identity.matching import compare as why_not_compare
from identity.models import DuplicateCandidate, IdentifierType
from identity.normalisers import InvalidValue, normalise
from identity.profiles import profile_holding, profile_json, survivor_of
from identity.types import impact as type_impact
from identity.types.services import change_identifier_type
from identity.writing import batching
from identity.writing.parsing import InvalidWrite, body_hash, check_text, parse_write
from identity.writing.resolution import ResolutionBusy, Stale, identifier_types, known_types
from merges import openapi as merge_openapi
from profiles.models import Profile
from profiles.numbers import whole_number
from profiles.text import unstorable

MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_PAGE_SIZE = 500
# Times a write is parsed and resolved again after its token or types were found outdated.
STALE_ATTEMPTS = 3


def not_found(kind, pk):
    """The 404 of a "profile" or "merge job" id that is not there: code `erased`, with the day
    and the audit entry, when it went with an erased person (a downstream system learns to
    erase its copy), `not_found` when it never was."""
    if erasure := hooks.erasure(kind, pk):
        return api_error(404, "erased", f"{kind} {pk} was erased with its person's data on "
                                        f"{erasure.erased_at:%Y-%m-%d} (audit entry "
                                        f"{erasure.entry_id})")
    return api_error(404, "not_found", f"there is no {kind} {pk}")


def api_error(status, code, message, field=None, *, details=None, **headers):
    """The one shape of API errors; `details` adds keys beside "error" (a merge's reasons)."""
    error = {"code": code, "message": message, "field": field}
    response = JsonResponse({"error": error, **(details or {})}, status=status)
    response.api_refusal = error  # named in the request's log line (config/logging.py)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def bearer_token(request):
    """The token of `Authorization: Bearer <token>`, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def unauthorized(token=None):
    """The 401 for a missing, unknown or revoked `token` (a revoked one is told so)."""
    revoked = token and revoked_at(token)
    if revoked:
        return api_error(
            401, "token_revoked",
            f"this token was revoked on {revoked:%Y-%m-%d %H:%M} UTC: ask for a new one",
            "Authorization", WWW_Authenticate='Bearer realm="mergeguard", error="invalid_token"',
        )
    return api_error(
        401, "unauthorized", "a valid token is required: Authorization: Bearer <token>",
        "Authorization", WWW_Authenticate='Bearer realm="mergeguard"',
    )


def throttled(limited):
    return api_error(
        429, "rate_limited",
        f"this token may make {limited.limit} requests a minute (API_RATE_LIMIT_PER_MINUTE): "
        f"try again in {limited.retry_after} s",
        details={"limit": {"requests": limited.limit, "seconds": ratelimit.WINDOW_SECONDS}},
        Retry_After=str(limited.retry_after),
    )


def api_view(*methods, accepted_tokens=False):
    """Token authentication and allowed methods for an API view.

    `accepted_tokens`: a token the process accepted before is taken without a query
    (tokens.authenticate_token); for writes only, whose batch checks it. Each token may make
    API_RATE_LIMIT_PER_MINUTE requests a minute (ratelimit); over it, 429 with Retry-After.
    """

    def decorator(view):
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                return api_error(
                    405, "method_not_allowed", f"use {' or '.join(methods)}",
                    Allow=", ".join(methods),
                )
            token = bearer_token(request)
            api_token = token and authenticate_token(token, accepted=accepted_tokens)
            if not api_token:
                return unauthorized(token)
            set_user(f"token:{api_token.name}")
            if limited := ratelimit.check(api_token.token_hash):
                return throttled(limited)
            request.api_token = api_token
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def read_json(request):
    """The request's JSON body, or an error response."""
    length = whole_number(request.META.get("CONTENT_LENGTH") or "0")
    if length is not None and length > MAX_BODY_BYTES:
        return None, api_error(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes",
                               "body")
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return None, api_error(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes",
                               "body")
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as error:
        return None, api_error(400, "invalid_json", f"the body is not valid JSON: {error}", "body")
    except RecursionError:
        return None, api_error(400, "invalid_json", "the body is nested too deeply", "body")


def read_json_object(request):
    """The request's JSON body when it is an object, or an error response."""
    payload, error = read_json(request)
    if error is None and not isinstance(payload, dict):
        error = api_error(400, "invalid", "the body is an object", "body")
    return payload, error


def group_committed(view):
    """Announce the request's write to the process's group commit (identity/writing/batching.py)
    as it comes in, so that a leader gathering a batch waits for it; `request.arrival` takes it."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        batched = settings.API_GROUP_COMMIT and request.META.get("wsgi.multithread", False)
        with batching.arrival(batched=batched) as request.arrival:
            return view(request, *args, **kwargs)

    return wrapped


@group_committed
@api_view("POST", accepted_tokens=True)
def upsert(request):
    payload, error = read_json(request)
    if error:
        return error
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        return api_error(
            400, "invalid", f"Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
            "Idempotency-Key",
        )
    if key is not None and (problem := unstorable(key)):
        return api_error(400, "invalid", f"Idempotency-Key {problem}", "Idempotency-Key")
    options = {"key": key, "body_hash": None if key is None else body_hash(payload)}
    # Parsed under the types the process knows; the write's batch checks they (and the token)
    # still hold, else (Stale) the token and types are read afresh and the write goes alone.
    api_token, types, submit = request.api_token, known_types(), request.arrival.submit
    for _ in range(STALE_ATTEMPTS):
        try:
            write, types = _parse(payload, types=types, source=api_token.name)
        except InvalidWrite as invalid:
            return api_error(400, invalid.code, invalid.message, invalid.field)
        try:
            outcome = submit(write, token=api_token, fingerprint=types.fingerprint, **options)
            break
        except ResolutionBusy as busy:
            return api_error(503, "busy", str(busy), Retry_After="1")
        except Stale:
            api_token = authenticate_token(bearer_token(request))
            if api_token is None:
                return unauthorized(bearer_token(request))
            types, submit = identifier_types(api_token.types_fingerprint), batching.resolve_alone
    else:
        return api_error(503, "busy", "the identifier types kept changing", Retry_After="1")
    if outcome.refusal == "in_flight":
        return api_error(
            409, "in_flight", "a request with this Idempotency-Key is still running",
            "Idempotency-Key",
        )
    if outcome.refusal == "other_body":
        return api_error(
            422, "idempotency_key_reused",
            "this Idempotency-Key was used with another body", "Idempotency-Key",
        )
    return JsonResponse(outcome.body, status=outcome.status)


def _parse(payload, *, types, source):
    """(the write, the Types it was parsed under). A write invalid under `types` is parsed
    again under the current types when the table changed since the process loaded `types`:
    a type added a moment ago is known, not an error."""
    try:
        return parse_write(payload, types=types, source=source), types
    except InvalidWrite:
        current = identifier_types()
        if current.fingerprint == types.fingerprint:
            raise
        return parse_write(payload, types=current, source=source), current


@api_view("GET")
def profile_detail(request, profile_id):
    profile = Profile.objects.filter(pk=profile_id).first()
    if profile is None:
        return not_found("profile", profile_id)
    if profile.status == Profile.Status.MERGED:
        survivor = survivor_of(profile)
        response = JsonResponse(
            {"mergedInto": survivor.pk, "location": reverse("api_profile", args=[survivor.pk])},
            status=308,
        )
        response["Location"] = reverse("api_profile", args=[survivor.pk])
        return response
    return JsonResponse(profile_json(profile))


@api_view("GET")
def lookup(request):
    key = request.GET.get("type", "")
    raw = request.GET.get("value")
    types = identifier_types(request.api_token.types_fingerprint)
    if key not in types:
        return api_error(400, "invalid", f"{key!r} is not an identifier type", "type")
    if raw is None:
        return api_error(400, "invalid", "value is required", "value")
    try:
        value = normalise(types[key].normaliser, check_text("value", raw))
    except InvalidValue as invalid:
        return api_error(400, "invalid", str(invalid), "value")
    except InvalidWrite as invalid:
        return api_error(400, invalid.code, invalid.message, invalid.field)
    profile = profile_holding(types[key], value)
    if profile is None:
        return api_error(404, "not_found", f"no active profile holds {key} {value}")
    return JsonResponse(profile_json(profile))


@api_view("GET")
def candidates(request):
    status = request.GET.get("status") or None
    if status and status not in DuplicateCandidate.Status.values:
        return api_error(
            400, "invalid", f"status is one of {', '.join(DuplicateCandidate.Status.values)}",
            "status",
        )
    after = whole_number(request.GET.get("after", "0"))
    if after is None:
        return api_error(400, "invalid", "after is a candidate id (a whole number)", "after")
    limit = whole_number(request.GET.get("limit", "50"))
    if limit is None or not 1 <= limit <= MAX_PAGE_SIZE:
        return api_error(400, "invalid", f"limit is 1 to {MAX_PAGE_SIZE}", "limit")
    results = candidates_after(status=status, after=after, limit=limit)
    next_url = None
    if len(results) == limit:
        query = request.GET.copy()
        query["after"] = results[-1]["id"]
        next_url = f"{request.path}?{query.urlencode()}"
    return JsonResponse({"results": results, "next": next_url})


@csrf_exempt
@login_not_required
def openapi(request):
    document = openapi_document(identifier_types())
    # The merge rows live with merges; a view may compose the apps.
    document["paths"].update(merge_openapi.PATHS)
    document["components"]["schemas"].update(merge_openapi.SCHEMAS)
    return JsonResponse(with_token_refusals(document), json_dumps_params={"indent": 2})


# -- identifier types (SPEC 8a, 10) ----------------------------------------------------------------

CHANGE_TYPE = "identity.change_identifiertype"
VIEW_TYPE = "identity.view_identifiertype"


def _token_may(request, perm):
    """None when the token may `perm`, else the 403. A token acting for a user has exactly that
    user's permissions; an integration token (no user) may read, and nothing else."""
    user = request.api_token.user
    if user is None:
        if perm == VIEW_TYPE:
            return None
        return api_error(
            403, "forbidden",
            f"an integration token (acting for no user) may write, look up and read, nothing "
            f"else; this needs a token acting for a user with the permission {perm}",
        )
    if not user.is_active or not user.has_perm(perm):
        return api_error(403, "forbidden", f"this needs the permission {perm}")
    return None


def identifier_type_json(type_):
    return {
        "key": type_.key, "label": type_.label, "normaliser": type_.normaliser,
        "priority": type_.priority, "unique": type_.unique,
        "single_valued": type_.single_valued, "do_not_merge": type_.do_not_merge,
        "can_grant_access": type_.can_grant_access, "matchable": type_.matchable,
        "auto_merge": type_.auto_merge,
    }


def _type_change_error(error):
    """An InvalidChange (400) or a ChangeRefused (409 with a sample) as an API error."""
    if isinstance(error, type_impact.ChangeRefused):
        refusal = error.refusal
        return api_error(409, refusal.code, refusal.message, refusal.field,
                         details={"sample": refusal.sample, "count": refusal.count})
    return api_error(400, "invalid", error.message, error.field)


def _type_or_404(key):
    type_ = IdentifierType.objects.filter(key=key).first()
    if type_ is None:
        return None, api_error(404, "not_found", f"there is no identifier type {key}")
    return type_, None


@api_view("GET")
def identifier_types_list(request):
    if refused := _token_may(request, VIEW_TYPE):
        return refused
    return JsonResponse(
        {"results": [identifier_type_json(t) for t in IdentifierType.objects.all()]}
    )


@api_view("GET", "PATCH")
def identifier_type_detail(request, key):
    """GET: the type. PATCH `{"changes": {...}, "reason": "..."}`: applied as the settings page
    applies it (senior stewards); 409 with a sample when the data forbids it."""
    type_, error = _type_or_404(key)
    if error:
        return error
    if request.method == "GET":
        return _token_may(request, VIEW_TYPE) or JsonResponse(identifier_type_json(type_))
    if refused := _token_may(request, CHANGE_TYPE):
        return refused
    payload, error = read_json_object(request)
    if error:
        return error
    try:
        type_, jobs = change_identifier_type(
            identifier_type=type_, changes=payload.get("changes"),
            reason=payload.get("reason"), actor=request.api_token.user,
        )
    except (type_impact.InvalidChange, type_impact.ChangeRefused) as failed:
        return _type_change_error(failed)
    return JsonResponse({
        **identifier_type_json(type_),
        "jobs": [{"id": job.pk, "kind": job.kind, "status": job.status} for job in jobs],
    })


@api_view("POST")
def identifier_type_preview(request, key):
    """The impact of `{"changes": {...}}` on the real data, saving nothing."""
    if refused := _token_may(request, VIEW_TYPE):
        return refused
    type_, error = _type_or_404(key)
    if error:
        return error
    payload, error = read_json_object(request)
    if error:
        return error
    try:
        found = type_impact.preview(type_, payload.get("changes"))
    except (type_impact.InvalidChange, type_impact.ChangeRefused) as failed:
        return _type_change_error(failed)
    return JsonResponse(found.as_json())


# -- "why not?" (SPEC 8, the API twin of /compare/) -------------------------------------------

VIEW_PROFILE = "profiles.view_profile"


@api_view("GET")
def compare(request):
    """What detection says of two profiles, as the compare page shows it: the linkage keys,
    each field's level and weight, the score and threshold, shared values, collisions, the
    blocking reasons that would apply and the suggestions holding both. A merged id is
    answered for its survivor (`requested` keeps the id asked for)."""
    user = request.api_token.user
    if user is not None and (not user.is_active or not user.has_perm(VIEW_PROFILE)):
        return api_error(403, "forbidden", f"this needs the permission {VIEW_PROFILE}")
    ids = {}
    for side in ("a", "b"):
        ids[side] = whole_number(request.GET.get(side, ""))
        if ids[side] is None:
            return api_error(400, "invalid", f"{side} is a profile id", side)
    if ids["a"] == ids["b"]:
        return api_error(400, "invalid", "a and b are the same profile", "b")
    landed = {}
    for side, pk in ids.items():
        landed[side] = why_not_compare.landing(pk)
        if landed[side] is None:
            return api_error(404, "not_found", f"there is no profile {pk}", side)
    if landed["a"].pk == landed["b"].pk:
        return api_error(
            409, "same_profile",
            f"profiles {ids['a']} and {ids['b']} were merged: both are profile {landed['a'].pk}",
        )
    answer = why_not_compare.why_not(landed["a"].pk, landed["b"].pk)
    return JsonResponse(why_not_compare.pair_json(answer, requested=ids))
