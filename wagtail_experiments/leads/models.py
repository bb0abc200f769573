"""Lead forms (snippets built like Wagtail form pages) and the leads they collect."""

import swapper
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel
from wagtail.admin.panels import FieldPanel, InlinePanel, MultiFieldPanel
from wagtail.contrib.forms.forms import FormBuilder
from wagtail.contrib.forms.models import AbstractFormField, validate_to_address

from ..models.experiments import UTMAttribution, Variant
from ..models.goals import validate_goal_name
from ..text import email_list

PAGE_MODEL = swapper.get_model_name("wagtailcore", "Page")


class LeadForm(ClusterableModel):
    """A reusable form that turns visitors into leads, placed on pages with a block."""

    name = models.CharField(_("name"), max_length=255)
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    submit_label = models.CharField(_("submit button label"), max_length=64, default=_("Send"))
    success_message = models.TextField(
        _("success message"),
        blank=True,
        default=_("Thank you! We will be in touch."),
        help_text=_("Shown after a submission when no thank-you page is chosen."),
    )
    thank_you_page = models.ForeignKey(
        PAGE_MODEL,
        verbose_name=_("thank-you page"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    notify_emails = models.CharField(
        _("notify"),
        max_length=512,
        blank=True,
        validators=[validate_to_address],
        help_text=_("E-mail addresses told of each new lead, separated by commas."),
    )
    goal = models.CharField(
        _("goal"),
        max_length=64,
        default="lead",
        validators=[validate_goal_name],
        help_text=_("Experiment goal a submission counts as, in each experiment that "
                    "declares it (as a server-only goal, so no script can send it)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    panels = [
        FieldPanel("name"),
        FieldPanel("slug"),
        InlinePanel("fields", label=_("Form fields"), min_num=1),
        MultiFieldPanel(
            [
                FieldPanel("submit_label"),
                FieldPanel("success_message"),
                FieldPanel("thank_you_page"),
            ],
            heading=_("After submitting"),
        ),
        FieldPanel("notify_emails"),
        FieldPanel("goal"),
    ]

    class Meta:
        verbose_name = _("lead form")
        verbose_name_plural = _("lead forms")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_form_class(self):
        """A Django form class for the fields, built by Wagtail's form builder."""
        return FormBuilder(self.fields.all()).get_form_class()

    def notification_addresses(self):
        return email_list(self.notify_emails)


class LeadFormField(AbstractFormField):
    form = ParentalKey(LeadForm, on_delete=models.CASCADE, related_name="fields")


class Lead(UTMAttribution):
    """One submission of a lead form: personal data, so access is permission-guarded."""

    form = models.ForeignKey(
        LeadForm, verbose_name=_("form"), on_delete=models.PROTECT, related_name="leads"
    )
    data = models.JSONField(_("submitted data"), default=dict)
    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    visitor_id = models.CharField(_("visitor id"), max_length=64, blank=True, db_index=True)
    # Every running experiment's variant the visitor had been served when submitting.
    variants = models.ManyToManyField(
        Variant, verbose_name=_("variants"), blank=True, related_name="leads"
    )
    page = models.ForeignKey(
        PAGE_MODEL,
        verbose_name=_("page"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    referrer = models.CharField(_("referrer"), max_length=2000, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("submitted at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]

    def __str__(self):
        # Never the e-mail or data: this string ends up in logs and admin messages.
        return _("Lead %(id)s") % {"id": self.pk}

    @admin.display(description=_("Submitted data"))
    def data_summary(self):
        if not isinstance(self.data, dict):  # rows written by other code
            return str(self.data)
        return "; ".join(f"{name}: {value}" for name, value in self.data.items())

    @admin.display(description=_("Variants"))
    def variant_summary(self):
        return ", ".join(f"{v.experiment.slug}={v.key}" for v in self.variants.all())
