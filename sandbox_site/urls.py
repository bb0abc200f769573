from django.conf import settings
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.api.v2.router import WagtailAPIRouter
from wagtail.contrib.sitemaps.views import sitemap
from wagtail.documents import urls as wagtaildocs_urls

from sandbox_site.home.views import search
from wagtail_experiments.api_v2 import ExperimentPagesAPIViewSet

# Wagtail's API v2, with pages found by html_path served as the visitor's variant.
api_router = WagtailAPIRouter("wagtailapi")
api_router.register_endpoint("pages", ExperimentPagesAPIViewSet)

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("_experiments/", include("wagtail_experiments.urls")),
    path("api/v2/", api_router.urls),
    path("search/", search, name="search"),
    path("sitemap.xml", sitemap),
]

if settings.DEBUG:
    from django.conf.urls.static import static
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

urlpatterns += [path("", include(wagtail_urls))]
