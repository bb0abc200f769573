"""Admin forms."""

from django import forms
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm

DEVICE_CHOICES = [
    ("desktop", _("Desktop")),
    ("mobile", _("Mobile")),
    ("tablet", _("Tablet")),
]


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
