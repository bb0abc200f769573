from wagtail import hooks

from .leads.serving import handle_lead_form_post
from .serving import serve_assigned_variant

# Innermost in the chain (highest order), so Wagtail's own hooks, view restrictions
# included, run for the control page before the variant is swapped in...
hooks.register("on_serve_page", serve_assigned_variant, order=1000)
# ...and lead forms are handled on the page finally served, past its restrictions.
hooks.register("on_serve_page", handle_lead_form_post, order=1001)
