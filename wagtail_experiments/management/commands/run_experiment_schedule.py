from django.core.management.base import BaseCommand

from wagtail_experiments.schedule import run_experiment_schedule


class Command(BaseCommand):
    help = "Start scheduled experiments whose start has come and complete those past their end."

    def handle(self, *args, **options):
        changes = run_experiment_schedule()
        for slug, status in changes:
            self.stdout.write(f"{slug}: {status}")
        self.stdout.write(f"{len(changes)} experiment(s) changed.")
