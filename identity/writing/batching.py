"""Group commit: concurrent API writes of one server process share one transaction.

A write's cost is mostly per transaction (BEGIN, the lock and load queries, COPY, COMMIT, the
detection queueing), not per row: `resolve_writes` does a batch of a thousand imported rows
at a fraction of a thousand single writes. So the upsert view of a threaded server (granian's
WSGI threads, gunicorn gthread) hands its parsed write to the process's `group_commit`:

- a request announces itself when its view starts (`arrival()`), and submits its write once
  parsed (validation errors, 400, never join a batch);
- with no batch running, the submitting request leads: it waits, at most MAX_WAIT, while other
  announced requests of the process are still parsing, and until as many writes are queued as
  were about when the last batch ended (clients that wait for their answer before writing again
  come back together: one batch for all costs far less per write than two). Then it takes up to
  MAX_BATCH queued writes and resolves them in one transaction, in queue order; every other
  request waits for its answer;
- when the batch ends, the oldest write queued meanwhile leads the next batch. A batch of one
  (nobody else came) is the leader's own write, resolved by the single-write path.

Each request gets exactly the answer it would get alone after the writes before it: the batch is
resolved in order, later writes seeing earlier ones (`resolve_writes`). Keyed writes
(Idempotency-Key) are claimed, checked and remembered inside the batch's transaction, as
`idempotency.run_once` does for one write; a key repeated within one batch is in flight (409).

When the batch fails before its commit (ResolutionBusy, any exception), nothing of it was
written, and each of its writes is resolved again alone by its own request, which gets what a
write alone gets: 200/201, 503 or 500. When it fails after its commit (detection could not be
queued), every request of the batch gets the error (a 500), as a write alone would. No request
waits for anything but a running batch, which always answers every write it took.

A write is parsed under the identifier types its process knew and sent with a token its
process accepted before (identity/api/tokens.py): the batch's first statement checks both
(resolution.Expected) and the whole batch fails before writing anything when one no longer
holds; the write alone then raises resolution.Stale, and its request checks afresh.

The single-write path (`resolve_alone`) serves servers without threads (sync workers, the
test client), where no two requests of a process ever wait together, and every server when
API_GROUP_COMMIT is off.
"""

import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import transaction

from identity.writing import idempotency
from identity.writing.resolution import Expected, check_expected, resolve_writes

MAX_BATCH = 64  # writes per transaction
MAX_WAIT = 0.004  # seconds a leader waits for more writes (see GroupCommit._gather)


def response_of(resolution):
    """(status, body) of the API's answer to a resolved write."""
    return (201 if resolution.created else 200), resolution.as_json()


def expected_of(entries):
    """What the writes of `entries` were accepted under (resolution.Expected)."""
    return Expected(
        fingerprints=frozenset(entry.fingerprint for entry in entries),
        token_ids=frozenset(entry.token.pk for entry in entries),
    )


def resolve_alone(write, *, token, fingerprint, key=None, body_hash=None):
    """Resolve one write, parsed under the types of `fingerprint`, in a transaction of its
    own; an idempotency.Outcome. resolution.Stale when those types or the token are gone."""
    expected = Expected(fingerprints=frozenset([fingerprint]), token_ids=frozenset([token.pk]))
    if key is None:
        status, body = response_of(resolve_writes([write], expected=expected)[0])
        return idempotency.Outcome(status=status, body=body)
    with transaction.atomic():
        check_expected(expected)  # before a stored response is replayed
        return idempotency.run_once(
            token=token, key=key, body_hash=body_hash,
            work=lambda: response_of(resolve_writes([write])[0]),
        )


@dataclass(eq=False)
class _Entry:
    write: object
    token: object
    fingerprint: str  # of the identifier types the write was parsed with
    key: str | None
    body_hash: str | None
    answered: threading.Event
    outcome: idempotency.Outcome | None = None
    error: BaseException | None = None
    alone: bool = False  # the batch failed before its commit: resolve this write alone
    lead: bool = False  # the previous leader handed over: lead the next batch


class GroupCommit:
    def __init__(self, *, max_batch=MAX_BATCH, max_wait=MAX_WAIT):
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._changed = threading.Condition()
        self._queue = []
        self._leading = False  # a batch is being gathered or resolved
        self._arriving = 0  # requests announced and not yet submitted
        # Writes the last batch answered plus those queued meanwhile: the clients that will
        # most likely send again at once (each waits for its answer before its next write).
        self._recent = 0

    def arrival(self):
        """A request that will submit a write (or give up): a context manager."""
        return _Arrival(self)

    def _submit(self, entry):
        with self._changed:
            self._arriving -= 1
            self._queue.append(entry)
            self._changed.notify_all()
            lead = not self._leading
            self._leading = True
        if not lead:
            entry.answered.wait()
            lead = entry.lead
        if lead:
            self._lead()
        if entry.alone:
            return resolve_alone(
                entry.write, token=entry.token, fingerprint=entry.fingerprint, key=entry.key,
                body_hash=entry.body_hash,
            )
        if entry.error is not None:
            raise entry.error
        return entry.outcome

    def _lead(self):
        batch = []
        try:
            batch = self._gather()
            _resolve_batch(batch)
        finally:
            with self._changed:
                self._recent = len(batch) + len(self._queue)
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].answered.set()
                else:
                    self._leading = False
            for entry in batch:
                entry.answered.set()

    def _gather(self):
        """Up to max_batch queued writes, after waiting (at most max_wait) for the requests
        announced meanwhile, and for as many writes as were about at the last batch's end:
        the clients it answered are then on their way back, and one batch for all costs far
        less per write than two."""
        deadline = time.monotonic() + self.max_wait
        with self._changed:
            while len(self._queue) < self.max_batch and (
                self._arriving or len(self._queue) < self._recent
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
        return batch


class _Arrival:
    def __init__(self, group):
        self.group = group
        self.submitted = False

    def __enter__(self):
        with self.group._changed:
            self.group._arriving += 1
        return self

    def __exit__(self, *exc_info):
        if not self.submitted:
            with self.group._changed:
                self.group._arriving -= 1
                self.group._changed.notify_all()

    def submit(self, write, *, token, fingerprint, key=None, body_hash=None):
        """Resolve `write` in the next batch; its idempotency.Outcome (resolve_alone's
        arguments and answers)."""
        self.submitted = True
        entry = _Entry(write, token, fingerprint, key, body_hash, threading.Event())
        return self.group._submit(entry)


class _Alone(nullcontext):
    def __enter__(self):
        return self

    def submit(self, write, **options):
        return resolve_alone(write, **options)


def arrival(*, batched):
    """Where a request's write goes: the process's group commit, or a transaction of its own."""
    return group_commit.arrival() if batched else _Alone()


def _resolve_batch(batch):
    """Answer every entry of `batch`: outcome, error or alone."""
    if len(batch) == 1:  # the leader's own write: the single-write path, with its answers
        (entry,) = batch
        try:
            entry.outcome = resolve_alone(
                entry.write, token=entry.token, fingerprint=entry.fingerprint, key=entry.key,
                body_hash=entry.body_hash,
            )
        except BaseException as error:
            entry.error = error
        return
    committed = False

    def mark_committed():
        nonlocal committed
        committed = True

    try:
        if any(entry.key is not None for entry in batch):
            with transaction.atomic():
                # First of the commit hooks: a later one failing (waking the detection drain)
                # leaves it set.
                transaction.on_commit(mark_committed)
                check_expected(expected_of(batch))  # before a stored response is replayed
                outcomes = _resolve_in_transaction(batch)
        else:  # no keys to claim: the writes' own transaction, without a savepoint inside
            resolutions = resolve_writes(
                [entry.write for entry in batch], on_commit=mark_committed,
                expected=expected_of(batch),
            )
            outcomes = [idempotency.Outcome(*response_of(r)) for r in resolutions]
    except BaseException as error:
        for entry in batch:
            if committed:
                entry.error = error
            else:
                entry.alone = True
        return
    for entry, outcome in zip(batch, outcomes, strict=True):
        entry.outcome = outcome


def _resolve_in_transaction(batch):
    """The Outcome of each entry, in order; call inside transaction.atomic()."""
    outcomes = {}
    claimed = set()
    resolving = []
    for entry in batch:
        if entry.key is not None:
            if (entry.token.pk, entry.key) in claimed:
                outcomes[entry] = idempotency.Outcome(refusal="in_flight")
                continue
            refused = idempotency.claim(
                token=entry.token, key=entry.key, body_hash=entry.body_hash
            )
            if refused is not None:
                outcomes[entry] = refused
                continue
            claimed.add((entry.token.pk, entry.key))
        resolving.append(entry)
    keyed = []
    if resolving:
        resolutions = resolve_writes([entry.write for entry in resolving])
        for entry, resolution in zip(resolving, resolutions, strict=True):
            status, body = response_of(resolution)
            outcomes[entry] = idempotency.Outcome(status=status, body=body)
            if entry.key is not None:
                keyed.append((entry.token, entry.key, entry.body_hash, status, body))
    idempotency.remember(keyed)
    return [outcomes[entry] for entry in batch]


group_commit = GroupCommit()
