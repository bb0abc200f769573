"""The demo site's search page, as ``wagtail start`` makes one: live pages only."""

from django.template.response import TemplateResponse
from wagtail.models import Page


def search(request):
    query = request.GET.get("query", "").strip()[:200]
    results = Page.objects.live().public().specific().search(query) if query else []
    return TemplateResponse(
        request, "home/search.html", {"search_query": query, "search_results": results}
    )
