"""The sandbox's URLs plus a database-free endpoint: the baseline of the single-event
capacity ratio. It goes through the same middleware and workers as the events API, reads
and parses the JSON body, and answers what the events API answers for one accepted event,
without touching the database."""

import json

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from sandbox_site.urls import urlpatterns as sandbox_urlpatterns

from .ingest import NO_DATABASE_PATH


@csrf_exempt
def no_database(request):
    body = json.loads(request.body)
    accepted = len(body["events"]) if "events" in body else 1
    return JsonResponse({"accepted": accepted, "duplicates": 0, "rejected": []}, status=202)


urlpatterns = [path(NO_DATABASE_PATH.lstrip("/"), no_database), *sandbox_urlpatterns]
