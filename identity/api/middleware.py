"""API requests skip the middleware of the steward pages.

A request under /api/ carries a token, not a session: sessions, CSRF, login, messages, frame
options and htmx have nothing to do for it, yet took about a tenth of the server's CPU per API
write. ApiMiddleware, listed after the middleware every response needs (security headers, static
files, Common), resolves such a request and calls its view itself. A path under /api/ that is no
endpoint gets the API's JSON 404 instead of the HTML page, and a request meeting a database
that does not answer a JSON 503 with Retry-After. The error of a refusal is handed to the log
line Django writes for it (config/logging.py).
"""

import logging

from django.db import InterfaceError, OperationalError
from django.urls import Resolver404, resolve

from identity.api.views import api_error

API_PREFIX = "/api/"
logger = logging.getLogger(__name__)


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        response = self.respond(request)
        request.api_refusal = getattr(response, "api_refusal", None)
        return response

    def respond(self, request):
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return api_error(404, "not_found", f"there is no API endpoint {request.path}")
        request.resolver_match = match
        try:
            return match.func(request, *match.args, **match.kwargs)
        except (OperationalError, InterfaceError):
            # PostgreSQL is down or restarting: a client should try again, not read a 500.
            logger.warning("database unavailable for %s %s", request.method, request.path,
                           exc_info=True)
            return api_error(503, "unavailable", "the database is not answering: try again",
                             Retry_After="5")
