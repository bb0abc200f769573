"""Buffered first exposures (``EXPOSURE_WRITES = "buffered"``): a brand-new visitor's
page is served without waiting for the database; each process's background thread writes
the buffered exposures every ``EXPOSURE_FLUSH_SECONDS``, many in one transaction.

What is guaranteed, and what is not:

- Every buffered exposure is written once (insert-or-ignore), by the thread, by the
  process's normal exit (``atexit``: a gunicorn/uWSGI worker restart or shutdown), or,
  if the database refuses a batch, by a later attempt (the batch stays buffered).
  Exposures of a variant deleted meanwhile are dropped.
- The visitor's signed assignment cookie is set as the page is served, and it is proof
  of the exposure: an event, goal page or lead of a visitor whose exposure is not stored
  yet (still buffered, or lost) stores the exposure from the cookie first, for an hour
  after the cookie was signed (``RESTORE_SECONDS``). A visitor converting within it is
  therefore counted, and the conversion attributed, whatever happened to the buffer. (From the same
  process's buffer the exposure keeps its UTM values and time; from another's, or after a
  loss, it is stored as of the event, without UTM values.)
- A worker killed outright (SIGKILL, the OOM killer, a power cut) loses what it buffered:
  its last interval's visitors, or, during a database outage, up to
  ``EXPOSURE_BUFFER_LIMIT``; a killed process cannot log that, but every exposure later
  restored from a cookie is logged (INFO, with its experiment, never the visitor). A
  process holding more than ``EXPOSURE_BUFFER_LIMIT`` drops the oldest and logs how many.

Only a visitor without a visitor-id cookie is buffered: nobody can have counted them
before, so the variant they are served is certainly the one of record.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from .conf import get_setting

logger = logging.getLogger(__name__)

# A flusher that failed waits this long (doubling, up to the maximum) before it tries again.
RETRY_SECONDS, MAX_RETRY_SECONDS = 1.0, 30.0
# A buffer this long is written at once rather than at the end of the interval.
FLUSH_AT = 500
# A request writes the buffer itself when no write was attempted for this long.
STALLED_SECONDS = 60.0
# Losses are logged at once, then summed up at most this often.
REPORT_SECONDS = 60.0
# How long after the assignment cookie was signed it may stand in for an exposure the
# database lacks. Long enough for a lost buffer's visitors to convert in their visit, short
# enough that a visitor erased meanwhile (``privacy``) is not counted again by an old cookie.
RESTORE_SECONDS = 3600


def is_enabled():
    """Buffering applies to server-side exposures only: in client exposure mode the cookie
    names pages served, not exposures counted, so it could not stand in for one."""
    return (get_setting("EXPOSURE_WRITES") == "buffered"
            and get_setting("EXPOSURE_MODE") == "server")


class ExposureBuffer:
    """One per process: exposures not yet written, and the thread that writes them."""

    def __init__(self):
        self._forget_parent()
        self.dropped = 0  # since the process started
        self._unreported, self._reported_at, self._drop_reason = 0, None, ""
        # Monotonic times: the buffer last became non-empty; a write was last attempted.
        self._waiting_since = self._attempted_at = 0.0

    def add(self, exposure):
        """Buffer ``exposure`` (an unsaved ``Exposure``) to be written soon."""
        with self._lock:
            now = time.monotonic()
            if not self._pending:
                self._waiting_since = now
            self._pending.append(exposure)
            overflow = len(self._pending) - get_setting("EXPOSURE_BUFFER_LIMIT")
            if overflow > 0:
                del self._pending[:overflow]
                self._note_dropped(overflow, "the buffer is full")
            self._start_flusher()
            if len(self._pending) >= FLUSH_AT:
                self._wake.set()
            stalled = now - max(self._waiting_since, self._attempted_at) > STALLED_SECONDS
        if stalled:
            self._flush_in_request()

    def take(self, experiment_id, visitor_id):
        """Remove and return this process's buffered exposure of the visitor to the
        experiment, or None: to store it now, with its own time and UTM values."""
        with self._lock:
            for index, exposure in enumerate(self._pending):
                if exposure.experiment_id == experiment_id and exposure.visitor_id == visitor_id:
                    return self._pending.pop(index)
        return None

    def forget(self, visitor_ids):
        """Drop the visitors' buffered exposures (``privacy.erase_person``)."""
        with self._lock:
            self._pending = [e for e in self._pending if e.visitor_id not in visitor_ids]

    def __len__(self):
        return len(self._pending)

    def flush(self):
        """Write everything buffered now. Returns how many buffered exposures it took (some
        may have been stored already, or be of a deleted variant); on a
        database error they stay buffered (ahead of newer ones) and the error is raised."""
        with self._flushing:
            return self._write_pending()

    def _write_pending(self):
        """``flush`` for a caller that holds ``_flushing``."""
        from .tracking import record_exposures

        with self._lock:
            self._attempted_at = time.monotonic()
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            record_exposures(batch)
        except BaseException:
            with self._lock:
                self._pending[:0] = batch
                overflow = len(self._pending) - get_setting("EXPOSURE_BUFFER_LIMIT")
                if overflow > 0:
                    del self._pending[:overflow]
                    self._note_dropped(overflow, "the database refused them too long")
            raise
        with self._lock:
            self._report_dropped()
        return len(batch)

    def stop(self, timeout=5.0):
        """Stop this process's thread and wait for it; what is buffered stays for ``flush``."""
        thread = self._thread
        self._stopping.set()
        self._wake.set()
        if thread is not None and timeout:
            thread.join(timeout)
        self._thread = None

    def flush_at_exit(self):
        """At interpreter exit: stop the thread and write what is left, once, without
        waiting for the thread to wake (``flush`` waits only for a write it has begun): a
        worker may have little time left before it is killed."""
        self.stop(timeout=0)
        if not self._pending:
            return
        try:
            self.flush()
        except Exception:
            self._note_dropped(len(self._pending), "the process exited while the database "
                               "refused them")
        self._report_dropped()

    # Internals --------------------------------------------------------------------------

    def _flush_in_request(self):
        """Write the buffer from the request that found it stalled (no thread has tried
        for STALLED_SECONDS: threads that never run, as under uWSGI without
        ``enable-threads``). Never waits for another writer, never raises."""
        from django.db import connection

        # Inside a request's transaction (ATOMIC_REQUESTS) a rollback would take the
        # batch with it: leave it to the thread or a later request.
        if connection.in_atomic_block or not self._flushing.acquire(blocking=False):
            return
        try:
            self._write_pending()
        except Exception:
            logger.warning("Could not write %s stalled buffered exposures.", len(self._pending),
                           exc_info=True)
        finally:
            self._flushing.release()

    def _forget_parent(self):
        """A fresh state: at creation, and in a forked child (gunicorn's worker), which
        inherits the parent's buffer and locks (perhaps held by the parent's thread) but
        neither its thread nor its duty to write what the parent buffered."""
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one writer at a time: thread, exit or request
        self._pending = []
        self._thread = None
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def _start_flusher(self):
        alive = self._thread is not None and self._thread.is_alive()
        if not alive and not self._stopping.is_set():
            self._thread = threading.Thread(
                target=self._run, name="wagtail-experiments-exposures", daemon=True
            )
            self._thread.start()

    def _run(self):
        from django.db import close_old_connections, connections

        retry = RETRY_SECONDS
        try:
            while not self._stopping.is_set():
                self._wake.wait(get_setting("EXPOSURE_FLUSH_SECONDS"))
                self._wake.clear()
                try:
                    # Like a request: a connection past CONN_MAX_AGE, or broken (a database
                    # restart, a proxy's idle timeout), is replaced, not failed on.
                    close_old_connections()
                    self.flush()
                    retry = RETRY_SECONDS
                except Exception:
                    logger.exception(
                        "Could not write %s buffered exposures; trying again in %.0f s.",
                        len(self._pending), retry,
                    )
                    # A broken connection is replaced on the next attempt.
                    connections.close_all()
                    self._stopping.wait(retry)
                    retry = min(retry * 2, MAX_RETRY_SECONDS)
        finally:
            connections.close_all()  # this thread's own connection

    def _note_dropped(self, count, reason):
        """Count a loss; log it at once, then at most every REPORT_SECONDS (an outage
        must not write a line per visitor), and after the next successful write."""
        self.dropped += count
        self._unreported += count
        self._drop_reason = reason
        now = time.monotonic()
        if self._reported_at is None or now - self._reported_at >= REPORT_SECONDS:
            self._report_dropped(now)

    def _report_dropped(self, now=None):
        if self._unreported:
            logger.error("Lost %s buffered exposures: %s.", self._unreported, self._drop_reason)
            self._unreported = 0
            self._reported_at = time.monotonic() if now is None else now


buffer = ExposureBuffer()
atexit.register(buffer.flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=buffer._forget_parent)
