"""Page types of the demo site: a home page and a landing page built from blocks."""

from wagtail import blocks
from wagtail.admin.panels import FieldPanel
from wagtail.api import APIField
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page

from wagtail_experiments.leads.blocks import LeadFormBlock


class HeroBlock(blocks.StructBlock):
    heading = blocks.CharBlock(max_length=120)
    subheading = blocks.CharBlock(required=False, max_length=240)

    class Meta:
        icon = "title"
        template = "home/blocks/hero.html"


class CallToActionBlock(blocks.StructBlock):
    label = blocks.CharBlock(max_length=60)
    url = blocks.CharBlock(max_length=255, default="#lead-demo-lead")
    goal = blocks.CharBlock(
        max_length=64, default="cta", help_text="Experiment goal counted when this is clicked."
    )

    class Meta:
        icon = "link"
        template = "home/blocks/call_to_action.html"


class HomePage(Page):
    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]


class LandingPage(Page):
    body = StreamField(
        [
            ("hero", HeroBlock()),
            ("text", blocks.RichTextBlock()),
            ("call_to_action", CallToActionBlock()),
            ("lead_form", LeadFormBlock()),
        ],
        blank=True,
    )

    content_panels = [*Page.content_panels, FieldPanel("body")]
    # For headless front ends: API v2 (and its variant-aware find) returns the blocks.
    api_fields = [APIField("body")]
