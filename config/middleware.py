"""Middleware of the whole project (not of one app)."""


class NoStoreMiddleware:
    """Pages and API answers show personal data: no browser or shared cache may keep them.

    Listed after WhiteNoise, so static files (served before it) keep their long cache life.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Cache-Control" not in response:
            response["Cache-Control"] = "no-store, private"
        return response
