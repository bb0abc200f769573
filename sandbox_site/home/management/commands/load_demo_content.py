from django.core.management.base import BaseCommand
from wagtail.models import Site

from sandbox_site.home.demo import ensure_admin_user, load_demo_content
from sandbox_site.home.history import (
    HISTORY_DAYS,
    load_demo_history,
    load_finished_experiment,
)


class Command(BaseCommand):
    help = ("Create the sandbox's demo pages, its running experiment with three weeks of "
            "simulated visitors, and the admin user.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=8000,
            help="The port the demo is served on: the default Site answers there, so that "
                 "links and API URLs point to it (default: 8000).",
        )
        parser.add_argument(
            "--no-history", action="store_true",
            help=f"Leave out the {HISTORY_DAYS} days of simulated visitors.",
        )

    def handle(self, *args, port=8000, no_history=False, **options):
        experiment = load_demo_content()
        Site.objects.filter(is_default_site=True).update(hostname="127.0.0.1", port=port)
        username, password = ensure_admin_user()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo content ready: experiment {experiment.slug!r} is {experiment.status}."
            )
        )
        if not no_history:
            self.stdout.write(f"Recording {HISTORY_DAYS} days of simulated visitors…")
            recorded = load_demo_history(experiment)
            self.stdout.write(f"{recorded} visitors recorded." if recorded else
                              "The experiment already has visitors: history left alone.")
            finished = load_finished_experiment()
            self.stdout.write(f"Finished experiment {finished.slug!r}: {finished.status}, "
                              f"winner {finished.winner.key!r} served.")
        self.stdout.write(f"Admin login: username {username!r}, password {password!r}")
