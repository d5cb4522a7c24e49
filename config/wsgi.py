"""The WSGI application the servers run (README: Production serving).

A response Django holds whole in memory (every page and API answer; not a file, not a stream)
goes to the server as a one-item list, closed first (Django's `request_finished`), as PEP 3333
allows: a server sends a list in one write, where for any other iterable it calls back into
Python for each chunk and for `close()`. For granian that was about a twelfth of a worker's
time under the API's write load.
"""

import os

from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()


def application(environ, start_response):
    response = django_application(environ, start_response)
    if not isinstance(response, HttpResponse):  # streamed: a file, a CSV export, a feed
        return response
    try:
        return [response.content]
    finally:
        response.close()
