from django.core.management.base import BaseCommand, CommandError

from wagtail_experiments.assignment import is_valid_visitor_id
from wagtail_experiments.privacy import erase_person


class Command(BaseCommand):
    help = (
        "Erase one person's experiment data (exposures, events, conversions, leads), "
        "by visitor id or by the e-mail address of their leads."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--visitor", action="append", default=[],
            help="A visitor id; write --visitor=<id>, as an id may start with '-'.",
        )
        parser.add_argument("--email", help="An e-mail address submitted in lead forms.")

    def handle(self, *args, visitor, email, **options):
        if not visitor and not email:
            raise CommandError("Name the person: --visitor <id> and/or --email <address>.")
        malformed = [value for value in visitor if not is_valid_visitor_id(value)]
        if malformed:
            raise CommandError(f"Not a visitor id: {', '.join(malformed)}")
        removed = erase_person(visitor_ids=visitor, email=email)
        summary = ", ".join(f"{count} {kind}" for kind, count in removed.items())
        self.stdout.write(f"Removed {summary}.")
