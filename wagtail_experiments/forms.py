"""Admin forms."""

from wagtail.admin.forms import WagtailAdminModelForm


class ExperimentAdminForm(WagtailAdminModelForm):
    """Validates the experiment as it will be saved, inline variants included.

    modelcluster applies the inline formsets only when saving, after the model's own
    validation; so the submitted variants are put on the instance first, and the rules stay
    in one place (``Experiment.clean``) for the admin and for code alike.
    """

    def _post_clean(self):
        variants = self.formsets.get("variants")
        if variants is not None and variants.is_valid():
            self.instance.variants = [
                form.instance
                for form in variants.forms
                if form.has_changed() or form.instance.pk
                if form not in variants.deleted_forms
            ]
        super()._post_clean()
