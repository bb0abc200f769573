"""Confirmation screens for an experiment's lifecycle: start, pause, resume, complete,
archive, and promoting the winner. Each calls the model's own lifecycle method."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView

from ..compat import PermissionCheckedMixin
from ..models import Experiment
from .base import ExperimentScreenMixin


class CompleteForm(forms.Form):
    winner = forms.ModelChoiceField(
        queryset=None, required=False, empty_label=_("No winner"), label=_("Winner")
    )

    def __init__(self, *args, experiment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["winner"].queryset = experiment.variants.all()


class PromoteForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("How"),
        widget=forms.RadioSelect,
        choices=[
            ("serve", _("Serve the winning page at the control URL to everyone from now on")),
            ("publish", _("Publish the winner's content onto the control page as a new "
                          "revision (pages of the same type only)")),
        ],
    )

    def __init__(self, *args, experiment, **kwargs):
        super().__init__(*args, **kwargs)
        if experiment.promotion_mode == "serve":
            # Already served to everyone: what is left is making it the page's own content.
            self.fields["mode"].choices = self.fields["mode"].choices[1:]
            self.fields["mode"].initial = "publish"
        elif experiment.is_code_level:
            # No pages: the winner's variant (and payload) is what code gets from now on.
            self.fields["mode"].choices = [
                ("serve", _("Give every visitor the winning variant from now on")),
            ]


ACTIONS = {
    "start": (_("Start"), _("Visitors of the control page will be bucketed and counted. "
                           "With a start date in the future, the experiment is scheduled.")),
    "pause": (_("Pause"), _("Everyone will see the control page and nothing is counted until "
                           "you resume. Visitors keep their variant when you do.")),
    "resume": (_("Resume"), _("Serve the variants again, with the same bucketing.")),
    "complete": (_("Complete"), _("Stop the experiment for good. Choose the winner if there "
                                 "is one; everyone sees the control page again.")),
    "archive": (_("Archive"), _("Hide the experiment from everyday lists. Its data stays.")),
    "promote": (_("Promote winner"), _("Make the winner what every visitor sees.")),
    "update_content": (_("Update variant content"), _(
        "Visitors are served each variant page as it was when the experiment started (its "
        "pinned revision), so editing a variant page changes nothing until you update here. "
        "From now on, visitors see each variant page's latest saved version. Changing "
        "content mid-test mixes two versions in one result: prefer a new experiment for "
        "anything but fixes.")),
}


class ExperimentActionView(PermissionCheckedMixin, ExperimentScreenMixin, FormView):
    model = Experiment
    permission_required = "change"
    template_name = "wagtail_experiments/admin/confirm_action.html"
    action = None  # a key of ACTIONS, set by the viewset's URL patterns
    index_url_name = None

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.object = get_object_or_404(Experiment, pk=kwargs["pk"])

    def get_page_title(self):
        return f"{ACTIONS[self.action][0]}: {self.object}"

    def get_form_class(self):
        return {"complete": CompleteForm, "promote": PromoteForm}.get(self.action, forms.Form)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.action in ("complete", "promote"):
            kwargs["experiment"] = self.object
        return kwargs

    def get_context_data(self, **kwargs):
        label, explanation = ACTIONS[self.action]
        if self.action == "update_content":
            kwargs["pinned_variants"] = self.object.pinnable_variants()
        if self.action == "promote" and self.object.winner is not None:
            winner = self.object.winner
            page = winner.page.get_admin_display_title() if winner.page_id else None
            explanation = _("Make the winner, %(winner)s, what every visitor sees.") % {
                "winner": f"{winner} ({page})" if page else str(winner)}
        return super().get_context_data(
            experiment=self.object,
            action_label=label,
            explanation=explanation,
            cancel_url=self.get_success_url(),
            **kwargs,
        )

    def form_valid(self, form):
        try:
            user = self.request.user
            if self.action == "complete":
                self.object.complete(winner=form.cleaned_data["winner"], user=user)
            elif self.action == "promote":
                self.object.promote_winner(form.cleaned_data["mode"], user=user)
            elif self.action == "update_content":
                changed = self.object.update_variant_content(user=user)
            else:
                getattr(self.object, self.action)(user=user)
        except ValidationError as error:
            for message in error.messages:
                messages.error(self.request, message)
            return redirect(self.request.get_full_path())
        if self.action == "update_content":
            message = (
                _("Visitors of “%(name)s” now see the latest content of variants %(keys)s.")
                % {"name": self.object.name, "keys": ", ".join(changed)}
                if changed else
                _("No variant page of “%(name)s” changed since its content was pinned.")
                % {"name": self.object.name}
            )
        elif self.action == "promote":
            # What visitors get now, which differs by mode; the status stays "completed".
            message = (
                _("Every visitor of “%(name)s” now gets the winner, %(key)s, at the control "
                  "URL.")
                if form.cleaned_data["mode"] == "serve" else
                _("The winner of “%(name)s”, %(key)s, is published onto the control page; "
                  "the experiment serves nothing any more.")
            ) % {"name": self.object.name, "key": self.object.winner.key}
        else:
            message = _("“%(name)s” is now %(status)s.") % {
                "name": self.object.name, "status": self.object.get_status_display().lower()
            }
        messages.success(self.request, message)
        return redirect(self.get_success_url())

    def get_success_url(self):
        """Back where the action was taken from (``?next=``, the results screen's buttons
        pass it) when that is a URL of this site; else the experiment listing."""
        back = self.request.POST.get("next") or self.request.GET.get("next")
        if back and url_has_allowed_host_and_scheme(
            back, allowed_hosts={self.request.get_host()},
            require_https=self.request.is_secure(),
        ):
            return back
        return reverse(self.index_url_name)
