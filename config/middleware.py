"""Middleware of the whole project (not of one app)."""

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Pages and API answers show personal data: no browser or shared cache may keep them.

    Listed after WhiteNoise, so static files (served before it) keep their long cache life.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)  # Cache-Control: max-age=0, no-cache, no-store, ...
        return response
