"""A gunicorn gthread worker whose threads keep serving their keep-alive connections.

Gunicorn's gthread worker hands a keep-alive connection back to its main thread after every
response: the main thread parks it in its poller and, when the next request arrives, hands it
to a thread again. That is two thread wake-ups and a few hundred microseconds of Python per
request, and an API client writing one record after another pays them on every write. And with
`--worker-connections` equal to `--threads`, gunicorn keeps no connection alive at all: every
response says `Connection: close` and every request opens a new TCP connection.

KeepAliveThreadWorker keeps a connection on its thread while its next request comes promptly
(within LINGER) and while the worker holds no more connections than threads, so that no
connection ever waits for a thread a quiet one is holding. A connection quiet for longer is
parked in the poller as before, until gunicorn's `--keep-alive` timeout closes it.

    gunicorn config.wsgi --worker-class config.workers.KeepAliveThreadWorker \
        --workers 2 --threads 4 --worker-connections 4 --keep-alive 30
"""

import select

from gunicorn.workers.gthread import ThreadWorker

LINGER = 0.1  # seconds a thread waits for its connection's next request before parking it


class KeepAliveThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # gthread parks at most worker_connections - threads connections, which is none when
        # the two are equal; here every connection the worker accepted may be kept alive.
        self.max_keepalived = self.cfg.worker_connections

    @classmethod
    def check_config(cls, cfg, log):
        pass  # gthread warns that no connection can be kept alive: here every one can

    def handle(self, conn):
        keep_alive = super().handle(conn)
        while keep_alive is True and self._may_linger(conn) and _next_request_comes(conn):
            keep_alive = super().handle(conn)
        return keep_alive

    def _may_linger(self, conn):
        return self.alive and not conn.is_http2 and self.nr_conns <= self.cfg.threads


def _next_request_comes(conn):
    """Whether the connection has its next request's bytes within LINGER."""
    if conn.parser.unreader.buf.getvalue():  # read ahead with the last request
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(LINGER * 1000))
