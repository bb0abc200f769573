"""Starting, resuming and promoting put other content at a page's URL: they need what
publishing the pages needs, besides "change experiment", and respect locks and workflows."""

from html import unescape

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.test import Client
from wagtail.models import GroupPagePermission, Page, Workflow

from sandbox_site.home.models import LandingPage
from wagtail_experiments.models import Experiment, Variant

pytestmark = pytest.mark.django_db

ADMIN = "/admin/experiments/"


@pytest.fixture
def draft(demo):
    """A draft experiment of two new published pages beside the demo's landing page."""
    home = demo.control_page.get_parent()
    pages = []
    for slug in ("offer", "offer-b"):
        page = home.add_child(instance=LandingPage(title=slug.title(), slug=slug))
        page.save_revision().publish()
        pages.append(page)
    experiment = Experiment(name="Offer test", slug="offer-test", control_page=pages[0])
    experiment.variants = [
        Variant(key="control", page=pages[0], weight=50, is_control=True, sort_order=0),
        Variant(key="b", page=pages[1], weight=50, sort_order=1),
    ]
    experiment.save()
    return experiment


def user_with(django_user_model, name, *, experiments=False, publish_on=()):
    """A user who may manage experiments (``experiments``) and/or publish the given pages."""
    user = django_user_model.objects.create_user(name, password="x")
    group = Group.objects.create(name=f"{name} group")
    group.permissions.add(Permission.objects.get(codename="access_admin"))
    if experiments:
        group.permissions.add(
            *Permission.objects.filter(
                codename__in=["view_experiment", "change_experiment"],
                content_type__app_label="wagtail_experiments",
            )
        )
    for page in publish_on:
        for codename in ("change_page", "publish_page"):
            GroupPagePermission.objects.create(
                group=group, page=page,
                permission=Permission.objects.get(
                    codename=codename, content_type__app_label="wagtailcore"
                ),
            )
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return user, client


def act(client, action, experiment, data=None):
    return client.post(f"{ADMIN}{action}/{experiment.pk}/", data or {}, follow=True)


def status_of(experiment):
    return Experiment.objects.get(pk=experiment.pk).status


def test_change_experiment_alone_cannot_start(draft, django_user_model):
    _, client = user_with(django_user_model, "manager", experiments=True)
    html = unescape(act(client, "start", draft).content.decode())
    assert "You need permission to publish the control page “Offer”" in html
    assert "You need permission to publish variant “b”'s page “Offer-B”" in html
    assert status_of(draft) == "draft"


def test_publish_permission_alone_cannot_start(draft, django_user_model):
    root = Page.objects.get(depth=1)
    _, client = user_with(django_user_model, "publisher", publish_on=[root])
    response = client.post(f"{ADMIN}start/{draft.pk}/")
    assert response.status_code in (302, 403)
    assert status_of(draft) == "draft"


def test_publish_on_the_control_alone_is_not_enough(draft, django_user_model):
    control = draft.control_page
    _, client = user_with(django_user_model, "half", experiments=True, publish_on=[control])
    html = unescape(act(client, "start", draft).content.decode())
    assert "permission to publish variant “b”'s page “Offer-B”" in html
    assert "permission to publish the control page" not in html
    assert status_of(draft) == "draft"


def test_both_permissions_start_pause_resume_and_promote(draft, django_user_model):
    root = Page.objects.get(depth=1)
    _, client = user_with(django_user_model, "owner", experiments=True, publish_on=[root])
    act(client, "start", draft)
    assert status_of(draft) == "running"
    act(client, "pause", draft)
    act(client, "resume", draft)
    assert status_of(draft) == "running"
    winner = draft.variants.get(key="b")
    act(client, "complete", draft, {"winner": winner.pk})
    act(client, "promote", draft, {"mode": "serve"})
    assert Experiment.objects.get(pk=draft.pk).serve_winner


def test_resume_and_promote_need_publish_permission(draft, django_user_model):
    draft.start()
    draft.pause()
    _, client = user_with(django_user_model, "manager", experiments=True)
    assert "permission to publish" in act(client, "resume", draft).content.decode()
    assert status_of(draft) == "paused"
    draft.refresh_from_db()
    draft.complete(winner=draft.variants.get(key="b"))
    for mode in ("serve", "publish"):
        html = act(client, "promote", draft, {"mode": mode}).content.decode()
        assert "permission to publish" in html
    draft.refresh_from_db()
    assert not draft.serve_winner


def test_a_lock_by_someone_else_blocks_but_not_the_locker(draft, django_user_model):
    root = Page.objects.get(depth=1)
    _, client = user_with(django_user_model, "owner", experiments=True, publish_on=[root])
    other, _ = user_with(django_user_model, "other", experiments=True, publish_on=[root])
    control = draft.control_page
    control.locked, control.locked_by = True, other
    control.save()
    html = unescape(act(client, "start", draft).content.decode())
    assert "The control page “Offer” is locked" in html
    assert status_of(draft) == "draft"
    draft.refresh_from_db()
    draft.start(user=other)
    assert status_of(draft) == "running"


def test_a_workflow_in_progress_blocks(draft, django_user_model):
    root = Page.objects.get(depth=1)
    owner, client = user_with(django_user_model, "owner", experiments=True, publish_on=[root])
    workflow = Workflow.objects.get(name="Moderators approval")
    control = draft.control_page.specific
    control.save_revision(user=owner)
    workflow.start(control, owner)
    html = unescape(act(client, "start", draft).content.decode())
    assert "is in a workflow" in html
    assert status_of(draft) == "draft"


def test_code_and_the_scheduler_need_no_user(draft):
    draft.start()
    assert status_of(draft) == "running"


def test_the_model_method_names_every_page(draft, django_user_model):
    user, _ = user_with(django_user_model, "nobody")
    with pytest.raises(ValidationError) as error:
        draft.check_user_may_serve(user)
    assert len(error.value.messages) == 2


def test_changing_the_pages_of_a_running_experiment_needs_publish_permission(
    draft, django_user_model
):
    """The edit form is another way to put content at the control URL."""
    from .test_admin_experiments import experiment_form

    draft.start()
    home = draft.control_page.get_parent()
    other = home.add_child(instance=LandingPage(title="Other", slug="other"))
    other.save_revision().publish()
    control, variant_b = draft.ordered_variants()

    def edit(client, page):
        data = experiment_form(draft.control_page, [
            ("control", draft.control_page, 50, True), ("b", page, 50, False)
        ], draft.goals.all(), name="Offer test", slug="offer-test",
            sequential_tuning=str(draft.sequential_tuning))  # kept when it started
        data.update({
            "variants-INITIAL_FORMS": "2", "variants-0-id": str(control.pk),
            "variants-1-id": str(variant_b.pk), "variants-0-payload": "{}",
            "variants-1-payload": "{}",
        })
        return client.post(f"{ADMIN}edit/{draft.pk}/", data)

    _, manager = user_with(django_user_model, "manager", experiments=True)
    response = edit(manager, other)
    assert response.status_code == 200
    assert "You need permission to publish" in response.content.decode()
    assert draft.variants.get(key="b").page_id == variant_b.page_id

    root = Page.objects.get(depth=1)
    _, owner = user_with(django_user_model, "owner", experiments=True, publish_on=[root])
    assert edit(owner, other).status_code == 302
    assert draft.variants.get(key="b").page_id == other.pk
    # Without a page change, "change experiment" alone may still edit (e.g. the hypothesis).
    assert edit(manager, other).status_code == 302
