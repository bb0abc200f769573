"""Which UTM sources the rollups count one by one. Sources come from landing URLs that
anybody can write, so each experiment's rollups keep at most ``ROLLUP_MAX_UTM_SOURCES``
of them, the first exposures brought; later new ones are counted together as
``OTHER_SOURCES``. That bounds the rollup rows, and with them the results screen,
whatever a client sends. (The visitor's own exposure keeps the source it landed with.)

Exposures admit sources; events never do: an event rolls up under its exposure's source
if that source was admitted, else under ``OTHER_SOURCES``, as the exposure was.
"""

import threading

from .conf import get_setting

OTHER_SOURCES = "(other)"


class _AdmittedSources:
    """Per process: {experiment id: sources the rollups count}. Reads the database only
    for a source it has not seen admitted, so known sources cost no query."""

    def __init__(self):
        self.by_experiment = {}
        self.lock = threading.Lock()

    def source_for(self, experiment_id, source, *, admit):
        """The source a rollup row of ``experiment_id`` is written under. ``admit``: an
        exposure's, which may add ``source`` to the experiment's list while it has room."""
        admitted = self.by_experiment.get(experiment_id, ())
        if not source or source in admitted:
            return source
        cap = get_setting("ROLLUP_MAX_UTM_SOURCES")  # None or 0: no cap
        if cap and len(admitted) >= cap:
            return OTHER_SOURCES  # admitted sources are never taken back
        # Other processes admit sources too: the database has the whole list.
        stored = _stored_sources(experiment_id)
        with self.lock:
            admitted = self.by_experiment.setdefault(experiment_id, set())
            admitted.update(stored)
            if source in admitted:
                return source
            if admit and (not cap or len(admitted) < cap):
                admitted.add(source)
                return source
        return OTHER_SOURCES

    def clear(self):
        with self.lock:
            self.by_experiment.clear()


def _stored_sources(experiment_id):
    from .models import DailyRollup

    return set(
        DailyRollup.objects.filter(experiment_id=experiment_id, goal=DailyRollup.EXPOSURES)
        .exclude(utm_source__in=["", OTHER_SOURCES])
        .values_list("utm_source", flat=True)
        .distinct()
        .order_by()
    )


_admitted = _AdmittedSources()
rolled_up_source = _admitted.source_for
forget_admitted_sources = _admitted.clear
