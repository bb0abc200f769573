#!/usr/bin/env python
"""The sandbox's manage.py: run it from anywhere, it finds the repository root itself."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
