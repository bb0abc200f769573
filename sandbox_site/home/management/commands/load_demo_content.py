from django.core.management.base import BaseCommand

from sandbox_site.home.demo import ensure_admin_user, load_demo_content


class Command(BaseCommand):
    help = "Create the sandbox's demo pages, its running experiment and the admin user."

    def handle(self, *args, **options):
        experiment = load_demo_content()
        username, password = ensure_admin_user()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo content ready: experiment {experiment.slug!r} is {experiment.status}."
            )
        )
        self.stdout.write(f"Admin login: username {username!r}, password {password!r}")
