"""The merge rows of the HTTP API (SPEC 10): request a merge, read a job, the merge feed; and
the erasure feed.

A token acts for its user with exactly that user's permissions; a token without a user (an
integration token) may not merge. Errors come from identity's one `api_error`.
"""

from django.db import transaction
from django.http import JsonResponse

from identity.api.views import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    api_error,
    api_view,
    not_found,
    read_json,
)
from identity.writing.idempotency import run_once
from identity.writing.parsing import body_hash
from merges.audit.selectors import erasure_feed
from merges.models import MergeJob
from merges.selectors import job_json, merge_feed
from merges.services import MergeRefused, request_merge
from profiles.numbers import LARGEST_ID, whole_number

FEED_PAGE = 100
MAX_FEED_PAGE = 1000


@api_view("GET", "POST")
def merges(request):
    if request.method == "GET":
        return _feed(request)
    user = request.api_token.user
    if user is None or not user.is_active:
        return api_error(403, "forbidden", "this token acts for no user: an integration token "
                                           "may not merge (create_api_token NAME --user ...)")
    if not user.has_perm("merges.add_mergejob"):
        return api_error(403, "forbidden",
                         f"{user.get_username()} lacks the permission to merge profiles")
    payload, error = read_json(request)
    if error:
        return error
    try:
        options = _merge_options(payload)
    except MergeRefused as invalid:
        return api_error(invalid.status, invalid.code, str(invalid), invalid.field)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        return api_error(
            400, "invalid", f"Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
            "Idempotency-Key",
        )

    def work():
        job = request_merge(actor=user, **options)
        return 202, {"mergeId": job.pk, "status": job.status, "survivorId": job.survivor_id}

    try:
        with transaction.atomic():
            if key is None:
                status, body = work()
            else:
                outcome = run_once(token=request.api_token, key=key,
                                   body_hash=body_hash(payload), work=work)
                if outcome.refusal == "in_flight":
                    return api_error(409, "in_flight", "a request with this Idempotency-Key is "
                                                       "still running", "Idempotency-Key")
                if outcome.refusal == "other_body":
                    return api_error(422, "idempotency_key_reused", "this Idempotency-Key was "
                                     "used with another body", "Idempotency-Key")
                status, body = outcome.status, outcome.body
    except MergeRefused as refused:
        reasons = [{"code": r.code, "title": r.title} for r in refused.reasons]
        return api_error(refused.status, refused.code, str(refused), refused.field,
                         details={"reasons": reasons} if reasons else None)
    return JsonResponse(body, status=status)


def _merge_options(payload):
    """request_merge's arguments from a JSON body, or MergeRefused naming the field."""
    if not isinstance(payload, dict):
        raise MergeRefused("the body is a JSON object", field="body")
    ids = payload.get("profileIds")
    if not isinstance(ids, list) or not all(_is_id(pk) for pk in ids):
        raise MergeRefused("profileIds is a list of profile ids", field="profileIds")
    survivor = payload.get("survivorId")
    if survivor is not None and not _is_id(survivor):
        raise MergeRefused("survivorId is a profile id", field="survivorId")
    choices = payload.get("fieldChoices") or {}
    if not isinstance(choices, dict) or not all(_is_id(pk) for pk in choices.values()):
        raise MergeRefused("fieldChoices maps attribute names to profile ids",
                           field="fieldChoices")
    acknowledgements = payload.get("acknowledgements") or []
    if not isinstance(acknowledgements, list) or not all(
        isinstance(a, dict) and isinstance(a.get("code"), str)
        and isinstance(a.get("justification"), str) for a in acknowledgements
    ):
        raise MergeRefused('acknowledgements is a list of {"code", "justification"}',
                           field="acknowledgements")
    candidate = payload.get("candidateId")
    if candidate is not None and not _is_id(candidate):
        raise MergeRefused("candidateId is a candidate id", field="candidateId")
    return {
        "profile_ids": ids, "survivor_id": survivor, "field_choices": choices,
        "justifications": {a["code"]: a["justification"] for a in acknowledgements},
        "candidate_id": candidate,
    }


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= LARGEST_ID


def _feed(request):
    """GET /api/v1/merges?after=<cursor>: succeeded merges in commit order."""
    return _feed_page(request, merge_feed)


@api_view("GET")
def erasures(request):
    """GET /api/v1/erasures?after=<cursor>: the people erased (their profile and merge job
    ids), in commit order, for downstream systems to erase their copies."""
    return _feed_page(request, erasure_feed)


def _feed_page(request, feed):
    """A page of `feed` from the request's `after` cursor and `limit`."""
    after = whole_number(request.GET.get("after", "0"))
    limit = whole_number(request.GET.get("limit", str(FEED_PAGE)))
    if after is None:
        return api_error(400, "invalid", "after is a cursor this feed returned as next", "after")
    if limit is None or not 1 <= limit <= MAX_FEED_PAGE:
        return api_error(400, "invalid", f"limit is 1 to {MAX_FEED_PAGE}", "limit")
    results, cursor = feed(after=after, limit=limit)
    return JsonResponse({"results": results, "next": str(cursor)})


@api_view("GET")
def merge_detail(request, merge_id):
    job = MergeJob.objects.filter(pk=merge_id).first()
    if job is None:
        return not_found("merge job", merge_id)
    return JsonResponse(job_json(job))
