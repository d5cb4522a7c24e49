#!/usr/bin/env bash
# The web server on 127.0.0.1:8000 and a Celery worker (with the periodic-task scheduler), in the
# foreground. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/celery -A config worker --beat --schedule .var/celerybeat-schedule -l INFO &
worker=$!
.venv/bin/python manage.py runserver --noreload 127.0.0.1:8000 &
web=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM "$web" "$worker" 2>/dev/null || true
    wait "$web" "$worker" 2>/dev/null || true
}
# Ctrl-C (or a TERM) is how a demo ends: stop both and end without an error, so that make
# stays quiet. Either server ending on its own still ends the demo with its status.
trap 'stop; exit 0' INT TERM
trap stop EXIT
echo "Mergeguard: http://127.0.0.1:8000/ (Ctrl-C stops the web server and the worker)"
# Either one ending ends the demo.
wait -n "$web" "$worker"
