"""Application logs: emails and phone numbers masked; each line says its request, user and job.

Django calls `configure` with LOGGING (settings.LOGGING_CONFIG). It installs a log-record factory
(the standard library's `logging.setLogRecordFactory`), so every record, whoever logs it (the
project, Django, Celery, psycopg) and whichever handler takes it (the console, pytest's caplog, one
an operator adds), is built with:

- its message and traceback already formatted and masked: `jane.doe@example.com` becomes
  `j***@e***.com`, `+1 212 555 1234` becomes `+* *** *** **34`;
- `request_id`, `user` and `job` from context variables: the request id is set when Django starts
  a request (the caller's `X-Request-ID` when it is a plain token, else a new one, and answered in
  the response's `X-Request-ID`); the user by `LogUserMiddleware` (pages) or the API's token check
  (`token:<name>`); the job when a Celery task starts (`<task>:<its job or run id>`).

A refusal (403 page, 400, 404) logged by Django is one line naming what was refused, not a
traceback. An API refusal's line names its code, field and message (`ApiRefusalFilter`).

The standard library rather than django-structlog: the records of Django, Celery and psycopg
pass through `logging` anyway, and masking has to reach all of them; the API's requests skip the
pages' middleware (identity.api.middleware) and must stay cheap at 1,000 writes/s, and the
signals and one small middleware used here add no log line of their own per request.
"""

import contextvars
import logging
import logging.config
import re
import uuid

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.core.signals import request_finished, request_started
from django.http import Http404

request_id = contextvars.ContextVar("request_id", default="-")
user = contextvars.ContextVar("user", default="-")
job = contextvars.ContextVar("job", default="-")

REQUEST_ID_HEADER = "X-Request-ID"
# A request id taken from the caller (a proxy's) only when it is a plain token.
CALLER_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Client errors Django logs with their traceback; one line says all there is to say.
CLIENT_ERRORS = (PermissionDenied, Http404, BadRequest, SuspiciousOperation)

# Anything with an @ between two runs of non-separators, the part after it ending in a dot and
# letters (a domain, not the host of a URL such as redis://:pw@127.0.0.1).
_PART = r"[^\s@'\"<>()\[\]{},;:=/\\]+"
EMAIL_RE = re.compile(rf"{_PART}@{_PART}\.[^\W\d_]{{2,63}}(?![\w-])")
# A run of digits with the separators phone numbers are written with, an optional + and area
# code in parentheses; `_phone` decides whether it is one.
PHONE_RE = re.compile(r"(?<![\w+.\-/:])(\+?\(?\d[\d ().\-]{4,}\d)(?![\w/])")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2})?")
DECIMAL_RE = re.compile(r"\d+\.\d+")


def _email(match):
    local, _, domain = match.group(0).partition("@")
    dot = domain.rfind(".")
    tld = domain[dot:] if 2 < len(domain) - dot <= 7 else ""
    return f"{local[0]}***@{domain[0]}***{tld}"


def _phone(match):
    text = match.group(0)
    digits = sum(char.isdigit() for char in text)
    # A bare run of digits is a phone number from 10 digits on (profile ids and counts are
    # shorter); written with separators or a +, from 7. E.164 allows at most 15.
    shortest = 10 if text.isdigit() else 7
    if not shortest <= digits <= 15 or DATE_RE.fullmatch(text) or DECIMAL_RE.fullmatch(text):
        return text
    keep = 2
    masked = []
    for char in reversed(text):
        if char.isdigit():
            masked.append(char if keep > 0 else "*")
            keep -= 1
        else:
            masked.append(char)
    return "".join(reversed(masked))


def mask(text):
    """`text` with email addresses and phone numbers masked."""
    if "@" in text:
        text = EMAIL_RE.sub(_email, text)
    return PHONE_RE.sub(_phone, text)


_base_factory = logging.getLogRecordFactory()
_formatter = logging.Formatter()


def _record(*args, **kwargs):
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id.get()
    record.user = user.get()
    record.job = job.get()
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        if record.name == "django.request" and isinstance(error, CLIENT_ERRORS):
            # A refusal: the exception's message is the reason; its traceback says nothing.
            if str(error):
                message = f"{message}: {error}"
            record.exc_info = None
        else:
            record.exc_text = mask(_formatter.formatException(record.exc_info))
    record.msg, record.args = mask(message), ()
    return record


def configure(logging_settings):
    """settings.LOGGING_CONFIG: the dictConfig of LOGGING, with masking and context."""
    logging.config.dictConfig(logging_settings)
    logging.setLogRecordFactory(_record)
    request_started.connect(_request_started, dispatch_uid="config.logging.request_started")
    request_finished.connect(_request_finished, dispatch_uid="config.logging.request_finished")
    try:
        from celery import signals
    except ImportError:  # pragma: no cover - Celery is a dependency
        return
    signals.task_prerun.connect(_task_started, dispatch_uid="config.logging.task_started")
    signals.task_postrun.connect(_task_finished, dispatch_uid="config.logging.task_finished")


def _request_started(sender, environ=None, **kwargs):
    given = (environ or {}).get("HTTP_X_REQUEST_ID", "")
    request_id.set(given if CALLER_REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex)
    user.set("-")


def _request_finished(sender, **kwargs):
    request_id.set("-")
    user.set("-")


def _task_started(sender=None, task_id=None, task=None, args=None, kwargs=None, **extra):
    name = (getattr(task, "name", None) or "task").rsplit(".", 1)[-1]
    ids = [arg for arg in (args or ()) if isinstance(arg, int) and not isinstance(arg, bool)]
    ident = ids[0] if ids else (kwargs or {}).get("job_id") or (kwargs or {}).get("run_id")
    job.set(f"{name}:{ident if ident is not None else task_id}")


def _task_finished(**kwargs):
    job.set("-")


def set_user(name):
    """The user the current request's log lines name."""
    user.set(name)


class RequestIdMiddleware:
    """First in MIDDLEWARE: `request.id` is the request's log id, answered in X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = request_id.get()
        if request.id == "-":  # a handler that sends no request_started
            request.id = uuid.uuid4().hex
            request_id.set(request.id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.id
        return response


class LogUserMiddleware:
    """After AuthenticationMiddleware: pages' log lines name the logged-in user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            user.set(request.user.get_username())
        return self.get_response(request)


class ApiRefusalFilter(logging.Filter):
    """On django.request: the line Django writes for an API answer of 4xx ("Bad Request:
    /api/v1/profiles/upsert") also names the error's code, field and message."""

    def filter(self, record):
        request = getattr(record, "request", None)
        refusal = getattr(request, "api_refusal", None)
        if refusal:
            field = f" {refusal['field']}" if refusal.get("field") else ""
            record.msg = mask(f"{record.msg} ({refusal['code']}{field}: {refusal['message']})")
        return True
