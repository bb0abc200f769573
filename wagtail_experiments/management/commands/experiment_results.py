import json

from django.core.management.base import BaseCommand, CommandError

from wagtail_experiments.models import Experiment
from wagtail_experiments.results import experiment_results
from wagtail_experiments.templatetags.wagtail_experiments_admin import verdict_sentence


class Command(BaseCommand):
    help = "Print an experiment's results, per variant, control first."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The experiment's slug.")
        parser.add_argument("--goal", help="Goal to count conversions for (default: primary).")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print JSON instead of a table."
        )

    def handle(self, *args, slug, goal=None, as_json=False, **options):
        try:
            experiment = Experiment.objects.get(slug=slug)
        except Experiment.DoesNotExist as error:
            raise CommandError(f"No experiment with slug {slug!r}.") from error
        results = experiment_results(experiment, goal=goal)
        if as_json:
            self.stdout.write(json.dumps(results, indent=2))
            return
        self.stdout.write(
            f"{results['name']} ({results['experiment']}), {results['status']}, "
            f"goal {results['goal']}"
        )
        self.stdout.write(f"{'variant':<16}{'weight':>8}{'visitors':>10}{'conversions':>13}")
        for variant in results["variants"]:
            marker = " (control)" if variant["is_control"] else ""
            self.stdout.write(
                f"{variant['key'] + marker:<16}{variant['weight']:>8g}"
                f"{variant['visitors']:>10}{variant['conversions']:>13}"
            )
        verdict = results["verdict"]
        self.stdout.write(f"verdict on {results['primary_goal']}: {verdict['reason']}. "
                          f"{verdict_sentence(verdict)}")
