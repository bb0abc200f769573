"""Admin forms."""

from django import forms
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm

DEVICE_CHOICES = [
    ("desktop", _("Desktop")),
    ("mobile", _("Mobile")),
    ("tablet", _("Tablet")),
]


class GoalNameInput(forms.TextInput):
    """A goal name, typed or picked from ``suggestions`` (the experiment's declared goals and
    the lead forms' goals): a new name is declared as a goal when the experiment is saved."""

    template_name = "wagtail_experiments/widgets/goal_name_input.html"

    def __init__(self, suggestions=(), attrs=None):
        super().__init__(attrs)
        self.suggestions = list(suggestions)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        list_id = f"{context['widget']['attrs'].get('id') or name}-suggestions"
        context["widget"]["attrs"]["list"] = list_id
        context["widget"].update(suggestions=self.suggestions, list_id=list_id)
        return context


class ExperimentAdminForm(WagtailAdminModelForm):
    """Validates the experiment as it will be saved, inline variants included.

    modelcluster applies the inline formsets only when saving, after the model's own
    validation; so the submitted variants are put on the instance first, and the rules stay
    in one place (``Experiment.clean``) for the admin and for code alike.
    """

    target_devices = forms.MultipleChoiceField(
        label=_("Devices"),
        choices=DEVICE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only these device classes take part. None ticked: all devices."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "primary_goal" in self.fields:
            self.fields["primary_goal"].widget = GoalNameInput(self._goal_suggestions())

    def _goal_suggestions(self):
        from .leads.models import LeadForm

        declared = list(self.instance.goals.values_list("name", flat=True)) if (
            self.instance.pk) else []
        by_forms = LeadForm.objects.exclude(goal="").values_list("goal", flat=True)
        return sorted(set(declared) | set(by_forms) | {"lead"})

    def _post_clean(self):
        variants = self.formsets.get("variants")
        if variants is not None and variants.is_valid():
            self.instance.variants = [
                form.instance
                for form in variants.forms
                if form.has_changed() or form.instance.pk
                if form not in variants.deleted_forms
            ]
        goals = self.formsets.get("goals")
        if goals is not None and goals.is_valid():
            self.instance.goals = [
                form.instance
                for form in goals.forms
                if (form.has_changed() or form.instance.pk) and form not in goals.deleted_forms
            ]
        super()._post_clean()
