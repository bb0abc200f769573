"""The rough edges a new user met in the admin and the API, each fixed (issue 13)."""

import json
from decimal import Decimal

import pytest
from django.test import Client

from wagtail_experiments.models import Experiment, Lead
from wagtail_experiments.templatetags.wagtail_experiments_admin import step_change

from .conftest import BROWSER_UA
from .helpers import days_ago, seed, served_heading, served_key, started_days_ago

pytestmark = pytest.mark.django_db

HEADLESS_CHROME_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "HeadlessChrome/120.0.0.0 Safari/537.36")


def results_url(experiment, query=""):
    return f"/admin/experiments/results/{experiment.pk}/{query}"


def test_the_goal_selector_shows_the_goal_the_figures_are_for(demo, admin_client):
    html = admin_client.get(results_url(demo)).content.decode()
    assert '<option value="lead" selected>lead</option>' in html
    html = admin_client.get(results_url(demo, f"?since={days_ago(3)}")).content.decode()
    assert '<option value="lead" selected>lead</option>' in html
    html = admin_client.get(results_url(demo, "?goal=cta")).content.decode()
    assert '<option value="cta" selected>cta</option>' in html


@pytest.mark.parametrize("dates", ["since=junk", f"since={days_ago(1)}&until={days_ago(3)}"])
def test_a_bad_date_keeps_the_figures_on_the_goal_the_selector_shows(demo, admin_client, dates):
    response = admin_client.get(results_url(demo, f"?goal=cta&{dates}"))
    html = response.content.decode()
    assert '<option value="cta" selected>cta</option>' in html
    assert response.context["results"]["goal"] == "cta"


def test_the_date_range_has_its_chooser_and_explains_a_bad_date(demo, admin_client):
    html = admin_client.get(results_url(demo)).content.decode()
    assert "date-time-chooser" in html  # the widget's script, which initDateChooser is in
    html = admin_client.get(results_url(demo, "?since=yesterday")).content.decode()
    assert '<span class="error-message">Enter a valid date.</span>' in html


def test_the_headline_and_the_lift_chart_lead_the_results(seeded_stats, admin_client):
    html = admin_client.get(results_url(seeded_stats)).content.decode()
    assert "b converts 52 % better than the control (likely between" in html
    assert ": it is the winner." in html
    assert 'class="wexp-chart wexp-lift-chart"' in html
    # The winner's bar is green; the chart comes before the table.
    assert html.index("wexp-lift-chart") < html.index('class="listing wexp-variants"')
    assert 'fill="#2ca25f"' in html
    # Every chart also comes drawn for a phone, which the stylesheet shows there instead.
    assert html.count('class="wexp-narrow"') == html.count('class="wexp-wide"') >= 3


def test_too_early_says_how_far_the_plan_is(demo, admin_client):
    started_days_ago(demo, 1)
    for key in ("control", "b", "c"):
        seed(demo, key, days_ago(0), 500, 10)
    html = admin_client.get(results_url(demo)).content.decode()
    assert "Too early: 1 % of the planned visitors. Collecting data: no verdict before" in html


def test_funnel_steps_without_drop_off_say_nothing():
    assert step_change(0.0) == step_change(0.004) == step_change(None) == ""
    assert step_change(0.25) == "\u221225 %"
    assert step_change(-0.1) == "+10 %"


def test_weights_read_as_numbers_and_an_even_three_way_split_runs(demo):
    from django.core.exceptions import ValidationError

    variants = list(demo.variants.all())
    for variant, weight in zip(variants, ("70", "20", "0.001"), strict=True):
        variant.weight = Decimal(weight)
    with pytest.raises(ValidationError, match=r"they add up to 90\.001 %"):
        demo.check_can_run(variants)
    for variant in variants:
        variant.weight = Decimal("33.33")
    demo.check_can_run(variants)  # 99.99 %: an even split, rounded


def test_the_api_answers_a_wrong_method_in_json(demo):
    response = Client(HTTP_USER_AGENT=BROWSER_UA).get("/_experiments/api/events")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "POST"
    assert json.loads(response.content)["detail"] == (
        "Method GET is not allowed here; use POST.")


def test_an_editor_forces_a_variant_in_a_headless_browser(demo, admin_client):
    admin_client.defaults["HTTP_USER_AGENT"] = HEADLESS_CHROME_UA
    response = admin_client.get("/landing/?wexp=landing-hero:b")
    assert served_key(response) == "b" == served_heading(response)
    # Not an editor: a headless browser is a bot, and sees the control.
    visitor = Client(HTTP_USER_AGENT=HEADLESS_CHROME_UA)
    assert served_heading(visitor.get("/landing/?wexp=landing-hero:b")) == "control"


def test_a_lead_reads_as_labelled_fields(demo, admin_client):
    lead = Lead.objects.create(form_id=demo_lead_form().pk, email="ada@example.com",
                               data={"name": "Ada Lovelace", "email": "ada@example.com"})
    html = admin_client.get(f"/admin/experiments/leads/inspect/{lead.pk}/").content.decode()
    assert "<dt>Name</dt><dd>Ada Lovelace</dd>" in html
    assert "{&#x27;name&#x27;" not in html and "{'name'" not in html
    # Empty fields (no page, no referrer, no user) show one mark, never "None" or "-".
    fields = html[html.index("<dt>Name</dt>"):]
    assert "None" not in fields and "<dd>-</dd>" not in fields


def test_experiment_names_tell_experiments_apart(demo):
    from django.core.exceptions import ValidationError

    twin = Experiment(name=demo.name, slug="twin")
    with pytest.raises(ValidationError, match="Another experiment has this name"):
        twin.full_clean()


def demo_lead_form():
    from wagtail_experiments.models import LeadForm

    return LeadForm.objects.get(slug="demo-lead")


def test_the_api_docs_work_offline(db):
    html = Client().get("/_experiments/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html


def test_the_results_screen_has_status_previews_and_lifecycle_buttons(demo, admin_client):
    html = admin_client.get(results_url(demo)).content.decode()
    assert '<span class="w-status w-status--primary">Running</span>' in html
    for key in ("control", "b", "c"):
        assert f"preview {key}</a>" in html
    assert f'href="/admin/experiments/edit/{demo.pk}/"' in html
    back = f"?next=%2Fadmin%2Fexperiments%2Fresults%2F{demo.pk}%2F"  # back to the results
    for action in ("pause", "complete"):
        assert f'href="/admin/experiments/{action}/{demo.pk}/{back}"' in html
    # The preview of a variant is its page as it is served (the pinned revision).
    variant = demo.variants.get(key="b")
    preview = f"/admin/pages/{variant.page_id}/revisions/{variant.revision_id}/view/"
    assert preview in html
    assert admin_client.get(preview).status_code == 200


def test_viewers_get_no_lifecycle_buttons(demo, django_user_model):
    from django.contrib.auth.models import Group, Permission

    viewer = django_user_model.objects.create_user("viewer", password="x")
    group = Group.objects.create(name="Viewers")
    group.permissions.add(Permission.objects.get(codename="access_admin"),
                          Permission.objects.get(codename="view_experiment"))
    viewer.groups.add(group)
    client = Client()
    client.force_login(viewer)
    html = client.get(results_url(demo)).content.decode()
    assert "Running" in html and f"/admin/experiments/pause/{demo.pk}/" not in html


def test_charts_have_round_axes_whole_labels_and_an_interval_band(seeded_stats, admin_client):
    from wagtail_experiments.charts import _nice_steps, line_chart

    # A "0 / 2 / 5" axis whose middle line was 2.5: steps are 1, 2 or 5 times a power of 10.
    assert _nice_steps(5, percent=False) == (2, 3)
    assert _nice_steps(1, percent=False) == (1, 1)
    assert _nice_steps(340, percent=False) == (100, 4)
    assert _nice_steps(0.081, percent=True) == (0.05, 2)
    series = [{"key": "control", "points": [
        {"day": "2026-11-01", "n": 2, "low": 1, "high": 3},
        {"day": "2026-11-02", "n": 5, "low": 4, "high": 6}]}]
    svg = line_chart(series, value="n", title="t", band=("low", "high"))
    assert ">0</text>" in svg and ">2</text>" in svg and ">6</text>" in svg
    assert ">2.5<" not in svg and "<polygon" in svg
    assert 'text-anchor="end" stroke="none">2026-11-02</text>' in svg  # not cut off

    results_html = admin_client.get(results_url(seeded_stats)).content.decode()
    # One interval band per variant, in the chart drawn wide and in the phone's.
    assert results_html.count("<polygon") == 2 * 3


def test_the_daily_series_carries_the_interval_of_the_cumulative_rate(seeded_stats):
    from statsmodels.stats.proportion import proportion_confint

    from wagtail_experiments.results import experiment_results

    last = experiment_results(seeded_stats)["daily"][0]["points"][-1]
    low, high = proportion_confint(340, 3400, alpha=0.05, method="wilson")
    assert (last["cumulative_ci_low"], last["cumulative_ci_high"]) == pytest.approx((low, high))


def test_one_day_of_data_draws_bars_with_their_intervals_not_dots():
    from wagtail_experiments.charts import line_chart

    series = [
        {"key": "control", "points": [{"day": "2026-11-01", "rate": 0.04, "low": 0.03,
                                       "high": 0.05}]},
        {"key": "b", "points": [{"day": "2026-11-01", "rate": 0.06, "low": 0.05,
                                 "high": 0.07}]},
    ]
    svg = line_chart(series, value="rate", title="t", percent=True, band=("low", "high"))
    assert svg.count("<rect") == 2 and "<circle" not in svg and "<polyline" not in svg
    assert svg.count('stroke-width="2"/>') == 2  # one interval whisker per bar
    assert ">control: 4%</text>" in svg and ">b: 6%</text>" in svg
    assert ">2026-11-01</text>" in svg


def test_the_primary_goal_suggests_the_declared_goals(demo, admin_client):
    """Typed or picked: the field offers the experiment's declared goals and the lead
    forms' goals, and a variant's payload is folded away under its own heading."""
    import re

    html = admin_client.get(f"/admin/experiments/edit/{demo.pk}/").content.decode()
    field = re.search(r'<input[^>]*name="primary_goal"[^>]*>', html).group(0)
    list_id = re.search(r'list="([^"]+)"', field).group(1)
    datalist = re.search(rf'<datalist id="{list_id}">(.*?)</datalist>', html, re.S).group(1)
    names = re.findall(r'<option value="([^"]+)">', datalist)
    assert set(demo.goals.values_list("name", flat=True)) <= set(names)
    assert "Payload for code (optional)" in html


def test_a_phones_lift_chart_puts_the_figures_above_each_bar():
    import re

    from wagtail_experiments.charts import NARROW_WIDTH, grouped_bars, lift_chart

    variants = [{"key": "control", "lift": None},
                {"key": "b", "lift": 0.12, "lift_ci_low": 0.04, "lift_ci_high": 0.21},
                {"key": "c", "lift": -0.03, "lift_ci_low": -0.2, "lift_ci_high": 0.15}]
    svg = lift_chart(variants, winner="b", title="Lift", width=NARROW_WIDTH)
    assert f'viewBox="0 0 {NARROW_WIDTH} ' in svg
    assert '<tspan font-weight="600">b</tspan> +12.0% [+4%, +21%]' in svg
    # Nothing is drawn past the chart's edges.
    for x in re.findall(r'<(?:text|rect|circle)[^>]* (?:x|cx)="([-\d.]+)"', svg):
        assert 0 <= float(x) <= NARROW_WIDTH
    # Group labels are cut to what their share of the width holds.
    bars = grouped_bars([{"label": f"newsletter-{n}", "bars": [{"key": "b", "value": 0.1}]}
                         for n in range(8)], title="UTM", width=NARROW_WIDTH)
    assert "newsletter-1<title>" not in bars and "new…<title>newsletter-1</title>" in bars
