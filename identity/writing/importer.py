"""Importing profiles from a CSV file (SPEC section 11): each row is a write (section 3).

The file is streamed: rows are read, validated by `parse_write` and resolved by `resolve_writes`
a batch at a time, so memory stays flat whatever the file's size and each batch is one
transaction. Another process reads and validates the next batches while this one resolves the
current one. A row that cannot be imported goes to the reject file with its row number and
reason; the other rows are kept. The header is checked before anything is imported.
"""

import codecs
import csv
import gc
import multiprocessing
import pickle
import queue
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from django.db import connection

from identity.matching.rules import match_features
from identity.writing.loads import Load
from identity.writing.parsing import (
    ATTRIBUTE_NAME_RE,
    MAX_SOURCE_LENGTH,
    IdentifierValue,
    InvalidWrite,
    Write,
    parse_write,
)
from identity.writing.resolution import ResolutionBusy, identifier_types, resolve_writes

DEFAULT_BATCH_SIZE = 1000
# A batch holds an advisory lock per identifier value until it commits, in PostgreSQL's shared
# lock table (max_locks_per_transaction x max_connections: 64 x 200 = 12,800 slots here): larger
# batches would starve concurrent writers or fail with "out of shared memory".
MAX_BATCH_SIZE = 2000
# Batches resolved at once (threads): one is written by PostgreSQL while the next is resolved.
RESOLVERS = 2


class InvalidImport(Exception):
    """The file or the options cannot be imported at all; nothing was imported."""


@dataclass(frozen=True)
class Columns:
    """What the file's columns are: identifier types and attributes by name, and the options."""

    names: tuple
    match_key: str
    observed_at: str | None
    access_contacts: tuple


@dataclass
class ImportSummary:
    rows: int = 0  # data rows read, rejected ones included, blank ones not
    created: int = 0
    matched: int = 0
    conflicts: int = 0
    rejected: int = 0
    blank: int = 0
    reject_path: Path | None = None  # None when no row was rejected (no reject file is left)
    seconds: float = 0.0  # reading and resolving the rows
    detection: object = None  # loads.LoadDetection, None with detect=False
    detection_seconds: float = 0.0

    @property
    def rows_per_second(self):
        return self.rows / self.seconds if self.seconds else 0.0


def read_columns(header, *, types, match_key, observed_at_column=None, access_contacts=()):
    """The file's `Columns`, or InvalidImport saying what is wrong with the header or options."""
    names = tuple(name.strip() for name in header)
    if not any(names):
        raise InvalidImport("the file is empty: its first row must name the columns")
    for index, name in enumerate(names, start=1):
        if not name:
            raise InvalidImport(f"column {index} of the header has no name")
        if names.index(name) != index - 1:
            raise InvalidImport(f"column {name!r} appears more than once in the header")
    listed = f"the file's columns are: {', '.join(names)}"

    if match_key not in types:
        raise InvalidImport(
            f"--match-key {match_key!r} is not an identifier type (types: {', '.join(types)})"
        )
    if not types[match_key].unique:
        unique = ", ".join(key for key, type_ in types.items() if type_.unique)
        raise InvalidImport(
            f"--match-key {match_key!r} is not a unique identifier type (unique types: {unique})"
        )
    if match_key not in names:
        raise InvalidImport(f"--match-key {match_key!r}: the file has no such column; {listed}")

    if observed_at_column is not None:
        if observed_at_column not in names:
            raise InvalidImport(
                f"--observed-at-column {observed_at_column!r}: the file has no such column; "
                f"{listed}"
            )
        if observed_at_column in types:
            raise InvalidImport(
                f"--observed-at-column {observed_at_column!r} is an identifier column, not a time"
            )

    for key in access_contacts:
        if key not in types:
            raise InvalidImport(f"--access-contacts {key!r} is not an identifier type")
        if not types[key].can_grant_access:
            raise InvalidImport(f"--access-contacts {key!r}: {key} identifiers cannot grant access")
        if key not in names:
            raise InvalidImport(f"--access-contacts {key!r}: the file has no such column; {listed}")

    keys = {key.lower(): key for key in types}
    for name in names:
        if name in types or name == observed_at_column:
            continue
        if name.lower() in keys:
            raise InvalidImport(
                f"column {name!r} is not identifier type {keys[name.lower()]!r}: names are "
                "matched exactly; rename the column to import it as identifiers"
            )
        if not ATTRIBUTE_NAME_RE.fullmatch(name):
            raise InvalidImport(
                f"column {name!r} is neither an identifier type nor a valid attribute name "
                "(letters, digits and underscores, at most 64)"
            )
    return Columns(
        names=names,
        match_key=match_key,
        observed_at=observed_at_column,
        access_contacts=tuple(dict.fromkeys(access_contacts)),
    )


def row_payload(columns, cells):
    """The write (API body shape) of one row; empty cells are not given, not null."""
    record = {}
    observed_at = None
    for name, cell in zip(columns.names, cells, strict=True):
        if not cell.strip():
            continue
        if "\x00" in cell:
            raise InvalidWrite(f"record.{name}", "the value contains a NUL character")
        if name == columns.observed_at:
            observed_at = cell
        else:
            record[name] = cell
    return {
        "record": record,
        "matchKey": columns.match_key,
        "observedAt": observed_at,
        "accessContacts": [key for key in columns.access_contacts if key in record],
    }


def rejected_column(error, columns):
    """The column an InvalidWrite is about, named as in the file ("" for the whole row)."""
    if error.field.startswith("record."):
        return error.field.removeprefix("record.")
    return {"matchKey": columns.match_key, "observedAt": columns.observed_at}.get(error.field, "")


class CsvRows:
    """The records of a UTF-8 CSV file (BOM allowed), read a line at a time.

    Yields (row number as a spreadsheet shows it, header 1; cells; problem), where problem says
    why the record could not be read, else None. `bytes_read` is how far into the file it is.

    The reader is strict: a quote left open, or text after a closing quote, is a problem of the
    record, not read as some other value. An open quote runs on over the lines after it, so the
    problem names the file's lines the record took, none of which were imported.
    """

    def __init__(self, stream):
        self.stream = stream
        self.bytes_read = 0
        self._undecodable = False

    def _lines(self):
        for index, line in enumerate(self.stream):
            self.bytes_read += len(line)
            if index == 0:
                line = line.removeprefix(codecs.BOM_UTF8)
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                self._undecodable = True
                yield line.decode("utf-8", "backslashreplace")

    def __iter__(self):
        reader = csv.reader(self._lines(), strict=True)
        number = 0
        while True:
            number += 1
            first_line = reader.line_num + 1
            try:
                cells = next(reader)
                problem = "the row is not valid UTF-8" if self._undecodable else None
            except StopIteration:
                return
            except csv.Error as error:
                lines = (f"line {first_line}" if reader.line_num <= first_line
                         else f"lines {first_line} to {reader.line_num}")
                cells = []
                problem = f"the row is not valid CSV: {_csv_problem(error)} ({lines} of the file)"
            self._undecodable = False
            yield number, cells, problem


# What the csv module's errors mean, in words; another error is shown as it is.
_CSV_PROBLEMS = {
    "unexpected end of data": "a quote is opened and never closed",
    "',' expected after '\"'": "text follows a closing quote",
    "field larger than field limit": f"a value is over {csv.field_size_limit():,} characters",
    "new-line character seen in unquoted field": "a line break in a value without quotes",
}


def _csv_problem(error):
    message = str(error)
    return next((words for start, words in _CSV_PROBLEMS.items() if message.startswith(start)),
                message)


def import_csv(
    path,
    *,
    match_key,
    observed_at_column=None,
    access_contacts=(),
    source=None,
    batch_size=DEFAULT_BATCH_SIZE,
    reject_path=None,
    progress=None,
    detect=True,
    detection_progress=None,
):
    """Import the CSV file at `path`; returns an ImportSummary.

    `progress`, if given, is called as `progress(total=<file size in bytes>)` once the header is
    accepted and returns a tqdm-like bar, advanced by bytes read. Raises InvalidImport, before
    anything is written, when the file or the options cannot be imported.

    The rows queue no incremental detection: with `detect`, one detection over the profiles
    they touched runs when they are all in (identity.writing.loads), told to
    `detection_progress(stage, percent)`, so the review queue is ready when this returns.
    """
    path = Path(path)
    reject_path = Path(reject_path) if reject_path else path.with_name(f"{path.name}.rejects.csv")
    source = path.name if source is None else source
    if len(source) > MAX_SOURCE_LENGTH:
        raise InvalidImport(f"--source is at most {MAX_SOURCE_LENGTH} characters")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidImport(f"--batch-size must be between 1 and {MAX_BATCH_SIZE:,}")
    if reject_path.resolve() == path.resolve():
        raise InvalidImport("the reject file cannot be the file being imported")
    try:
        stream = path.open("rb")
    except OSError as error:
        raise InvalidImport(f"{path}: {error.strerror}") from None
    with stream, _fewer_collections():
        if _carriage_returns_only(stream):
            raise InvalidImport(
                "the file's lines end with a carriage return alone (the old Mac format): save "
                "it as CSV UTF-8, or with Windows or Unix line endings"
            )
        rows = CsvRows(stream)
        records = iter(rows)
        _, header, problem = next(records, (1, [], None))
        if problem:
            raise InvalidImport(f"the header row cannot be read: {problem}")
        types = identifier_types()
        columns = read_columns(
            header, types=types, match_key=match_key, observed_at_column=observed_at_column,
            access_contacts=access_contacts,
        )
        try:
            rejects = reject_path.open("w", newline="", encoding="utf-8")
        except OSError as error:
            raise InvalidImport(
                f"cannot write the reject file {reject_path}: {error.strerror}"
            ) from None
        bar = progress(total=path.stat().st_size) if progress else None
        load = Load(source)
        with rejects, nullcontext() if bar is None else bar:
            run = _Run(columns, types, source, csv.writer(rejects), bar, rows, load)
            run.rejects.writerow(["row", "field", "reason", *header])
            run.import_rows(records, batch_size)
        if detect:
            started = time.perf_counter()
            run.summary.detection = load.detect(detection_progress)
            run.summary.detection_seconds = time.perf_counter() - started
        else:
            load.skip()
    if run.summary.rejected:
        run.summary.reject_path = reject_path
    elif reject_path.is_file():  # not, say, /dev/null
        reject_path.unlink()
    return run.summary


def _carriage_returns_only(stream):
    """Whether the file's lines end in a carriage return alone (the old Mac format): its start
    holds one within a line and no line feed. Looked at before reading, as such a file reads
    as a single line."""
    start = stream.peek(8192)[:8192]
    return b"\r" in start.rstrip(b"\r") and b"\n" not in start


@contextmanager
def _fewer_collections():
    """Python's cycle collector, run less while importing. By default it runs every 700 new
    objects, and now and then walks every object the process holds, Django's and the libraries'
    included: a fifth of an import's CPU. The objects made so far are frozen out of its walks
    (they live as long as the process), and it runs every 50,000 new objects."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class _Run:
    """One import's loop: validate rows, resolve them a batch at a time, count and reject."""

    def __init__(self, columns, types, source, rejects, bar, rows, load):
        self.columns = columns
        self.load = load
        self.types = types
        self.source = source
        self.rejects = rejects
        self.bar = bar
        self.rows = rows
        self.summary = ImportSummary()

    def import_rows(self, records, batch_size):
        started = time.perf_counter()
        in_flight = deque()
        previous = None
        # Inside a caller's transaction, its connection resolves every batch, one at a time.
        resolvers = _InPlace if connection.in_atomic_block else _Resolvers
        with resolvers(self.resolve, RESOLVERS) as resolvers:
            for chunk in _read_ahead(partial(self.read_chunks, records, batch_size), self.types):
                self.summary.rows += chunk.rows
                self.summary.blank += chunk.blank
                previous = _Flight(chunk, previous)
                resolvers.submit(previous)
                in_flight.append(previous)
                while len(in_flight) > RESOLVERS or (in_flight and in_flight[0].done.is_set()):
                    self.finish(in_flight.popleft())
            while in_flight:
                self.finish(in_flight.popleft())
        self.summary.seconds = time.perf_counter() - started

    def read_chunks(self, records, batch_size):
        """The rows as _Chunks of up to `batch_size` valid writes; no database work here.

        A chunk ends early, before a row carrying a unique value of a chunk that may still be
        resolving beside it (one of the last RESOLVERS - 1): that row's batch would wait for
        the other's commit, a whole batch's time, where a short batch costs a few statements.
        So the row opens the next chunk, which starts after the one it met is done. A chunk
        that waits anyway (its first row met the chunk beside) does not end early: a customer's
        run of rows across a chunk's end would otherwise go a row a chunk. Rows keep their
        file order.
        """
        width = len(self.columns.names)
        beside = deque(maxlen=RESOLVERS - 1)  # the unique values of the chunks before
        chunk, chunk_values = _Chunk(), set()  # and of this one: (type id, value)
        waits = False  # whether this chunk holds a row meeting a chunk beside it
        for number, cells, problem in records:
            if problem is None and not any(cell.strip() for cell in cells):
                chunk.blank += 1
                continue
            chunk.rows += 1
            if problem is None and len(cells) != width:
                problem = f"the row has {len(cells)} columns, the header has {width}"
            if problem is not None:
                chunk.rejects.append((number, "", problem, cells))
                continue
            try:
                payload = row_payload(self.columns, cells)
                write = parse_write(payload, types=self.types, source=self.source)
            except InvalidWrite as error:
                chunk.rejects.append(
                    (number, rejected_column(error, self.columns), error.message, cells)
                )
                continue
            values = {(i.type.id, i.value) for i in write.identifiers if i.type.unique}
            meets = any(not values.isdisjoint(v) for v in beside)
            held = len(chunk.batch)
            if held >= batch_size or (held and meets and not waits):
                chunk.bytes_read = self.rows.bytes_read
                yield chunk
                beside.append(chunk_values)
                chunk, chunk_values = _Chunk(), set()
                meets = any(not values.isdisjoint(v) for v in beside)
                waits = False
            chunk.batch.append((number, cells, write))
            chunk_values |= values
            waits = waits or meets
        chunk.bytes_read = self.rows.bytes_read
        yield chunk

    def resolve(self, flight):
        """Resolve a flight's batch (in a resolver thread); rows that kept meeting concurrent
        changes are tried one at a time, and those that still do are rejected."""
        batch = flight.chunk.batch
        if flight.previous is not None:  # its profiles are locked first: file order holds
            flight.previous.loaded.wait()
        if not batch:
            return
        try:
            flight.resolutions = resolve_writes(
                [write for _, _, write in batch], load=self.load, after_load=flight.loaded.set
            )
        except ResolutionBusy:
            # One row meeting concurrent changes should not cost the others: go row by row.
            for number, cells, write in batch:
                try:
                    flight.resolutions.extend(resolve_writes([write], load=self.load))
                except ResolutionBusy as error:
                    flight.busy.append((number, "", str(error), cells))

    def finish(self, flight):
        """Count and reject a flight's rows once it is done, in file order."""
        flight.done.wait()
        flight.previous = None  # only the next batch holds on to this one, not to all before it
        if flight.error is not None:
            raise flight.error
        for number, column, reason, cells in [*flight.chunk.rejects, *flight.busy]:
            self.reject(number, column, reason, cells)
        for resolution in flight.resolutions:
            if resolution.created:
                self.summary.created += 1
            else:
                self.summary.matched += 1
            self.summary.conflicts += len(resolution.conflicts)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.summary.rows:,} rows", refresh=False)
            self.bar.update(flight.chunk.bytes_read - self.bar.n)

    def reject(self, number, column, reason, cells):
        self.summary.rejected += 1
        self.rejects.writerow([number, column, reason, *cells])


class _Flight:
    """A chunk's batch on its way through a resolver: `loaded` once its profiles are locked
    (the next batch may start), `done` once it is committed or has failed (`error`)."""

    def __init__(self, chunk, previous):
        self.chunk = chunk
        self.previous = previous
        self.loaded = threading.Event()
        self.done = threading.Event()
        self.resolutions = []
        self.busy = []  # rejected rows: (row number, column, reason, cells)
        self.error = None


class _Resolvers:
    """Threads resolving the batches of an import in turn, each on a database connection of
    its own: while PostgreSQL writes one batch, the next is loaded and resolved in Python.

    A batch starts once the one before it has locked its profiles, so a profile both touch is
    changed by them in file order (the later one waits for the earlier one's commit). Batches
    touching different values and profiles commit in either order: nothing they write meets.
    A batch retried after meeting a concurrent writer's change may land after the next one.
    """

    def __init__(self, resolve, count):
        self.resolve = resolve
        self.queues = [queue.SimpleQueue() for _ in range(count)]
        self.submitted = 0
        self.stopping = False
        self.threads = [
            threading.Thread(target=self._serve, args=(q,), name=f"import-resolver-{n}",
                             daemon=True)
            for n, q in enumerate(self.queues)
        ]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping = exc_info[0] is not None  # batches not started yet are dropped
        for q in self.queues:
            q.put(None)
        for thread in self.threads:
            thread.join()

    def submit(self, flight):
        self.queues[self.submitted % len(self.queues)].put(flight)
        self.submitted += 1

    def _serve(self, flights):
        try:
            while (flight := flights.get()) is not None:
                self._carry(flight)
        finally:
            connection.close()

    def _carry(self, flight):
        """Resolve a flight (unless the import is stopping), then mark it loaded and done."""
        try:
            if not self.stopping:
                self.resolve(flight)
        except BaseException as error:  # raised again by the importing thread (finish)
            flight.error = error
        finally:
            flight.loaded.set()
            flight.done.set()


class _InPlace(_Resolvers):
    """As _Resolvers, in the calling thread: each batch resolved as it is submitted."""

    def __init__(self, resolve, count):
        super().__init__(resolve, 0)

    def submit(self, flight):
        self._carry(flight)


@dataclass
class _Chunk:
    batch: list = field(default_factory=list)  # (row number, cells, Write)
    rejects: list = field(default_factory=list)  # (row number, column, reason, cells)
    rows: int = 0
    blank: int = 0
    bytes_read: int = 0


def _read_ahead(make_chunks, types):
    """Iterate the chunks of `make_chunks()` while another process reads and validates the
    next ones (a thread where processes cannot be forked).

    Reading and validating (phone numbers above all) is Python, as is resolving: in a process
    of its own, it runs on a core of its own instead of taking turns with resolving for the
    interpreter's lock. The child is forked, so it has the parent's identifier types and
    settings, and touches no database: it sends each chunk through a pipe, whose buffer holds
    about one (memory stays flat), with its writes' identifier types by key
    (`_packed`/`_unpacked`). An exception in the child is raised here; stopping early (an
    error, Ctrl-C) stops the child, and a child whose parent is gone fails on its next send.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        yield from _read_ahead_in_thread(make_chunks())
        return
    receiving, sending = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_make_chunks_in_child, args=(make_chunks, sending, receiving),
        name="import-reader", daemon=True,
    )
    child.start()
    sending.close()
    try:
        while True:
            try:
                kind, item = pickle.loads(receiving.recv_bytes())
            except EOFError:
                raise RuntimeError(
                    f"the process reading the file ended unexpectedly (exit code {child.exitcode})"
                ) from None
            if kind == "done":
                break
            if kind == "error":
                raise item
            item.batch = [(number, cells, _unpacked(write, types))
                          for number, cells, write in item.batch]
            yield item
    finally:
        receiving.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _make_chunks_in_child(make_chunks, sending, receiving):
    receiving.close()  # so that a send fails once the parent, the only reader, is gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        for chunk in make_chunks():
            chunk.batch = [(number, cells, _packed(write)) for number, cells, write in chunk.batch]
            sending.send_bytes(pickle.dumps(("chunk", chunk), pickle.HIGHEST_PROTOCOL))
        sending.send_bytes(pickle.dumps(("done", None)))
    except (BrokenPipeError, ConnectionResetError):
        return
    except BaseException as error:  # raised again in the parent
        try:
            sending.send_bytes(pickle.dumps(("error", error)))
        except Exception:
            sending.send_bytes(pickle.dumps(("error", RuntimeError(repr(error)))))


def _packed(write):
    """A Write with its identifier types by key: cheap to pickle (a type is a model row).
    With the matching features of a profile it would create (Write.features): work taken
    off the resolving process."""
    return (
        tuple([(i.type.key, i.raw, i.value, i.grants_access) for i in write.identifiers]),
        write.attributes, write.match_key, write.observed_at, write.source, write.access_contacts,
        match_features({name: {"v": value} for name, value in write.attributes.items()}),
    )


def _unpacked(packed, types):
    identifiers, attributes, match_key, observed_at, source, access_contacts, features = packed
    return Write(
        identifiers=tuple([IdentifierValue(types[key], raw, value, grants)
                           for key, raw, value, grants in identifiers]),
        attributes=attributes, match_key=match_key, observed_at=observed_at, source=source,
        access_contacts=access_contacts, features=features,
    )


def _read_ahead_in_thread(chunks, depth=2):
    """Iterate `chunks` while a thread makes the next ones (at most `depth` ahead).

    An exception in the thread is raised here; stopping early stops the thread.
    """
    ready = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def hand_over(item):
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make():
        try:
            for chunk in chunks:
                if not hand_over(chunk):
                    return
            hand_over(done)
        except BaseException as error:  # raised again in the consuming thread
            hand_over(error)

    thread = threading.Thread(target=make, name="import-reader", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
