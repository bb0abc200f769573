"""Everything that differs between the supported Wagtail lines (7.4 LTS and 8.0).

The rest of the package imports these names and never asks which Wagtail it runs on.

- **Permission policies.** Wagtail 8.0 keeps one policy per model in
  ``wagtail.permissions.policy_registry``; admin viewsets, our views and the API all ask it.
  Wagtail 7.4 has no registry (each viewset builds a ``ModelPermissionPolicy``), so this
  module keeps an equivalent one; viewsets read it through
  :class:`RegisteredPermissionPolicyMixin` and our own views through
  :class:`PermissionCheckedMixin` (7.4's checks nothing without an explicit policy), so a
  user who may only view experiments cannot pause one on either line.
- **API tokens.** Wagtail 8.0 has API tokens (``wagtail.models.APIToken``, sent as
  ``Authorization: Bearer wagtail_…``; stored as digests, revocable), and the staff results
  API accepts only those. Wagtail 7.4 has none, so there it accepts Django REST framework's
  tokens (``Authorization: Token …``) when the site installs ``rest_framework.authtoken``;
  DRF comes with Wagtail on both lines.
"""

import wagtail
from django.apps import apps
from django.contrib.auth.models import AnonymousUser
from ninja.security import APIKeyHeader
from wagtail.admin.views.generic.permissions import (
    PermissionCheckedMixin as WagtailPermissionCheckedMixin,
)
from wagtail.permission_policies import ModelPermissionPolicy

WAGTAIL_VERSION = wagtail.VERSION[:2]
HAS_POLICY_REGISTRY = WAGTAIL_VERSION >= (8, 0)
HAS_WAGTAIL_API_TOKENS = WAGTAIL_VERSION >= (8, 0)

if HAS_POLICY_REGISTRY:
    from wagtail.permissions import policy_registry
    from wagtail.permissions import register_permission_policy as _register_with_wagtail

    def register_permission_policy(model, policy=None):
        """The policy Wagtail's screens and ours use for ``model`` (default: model perms)."""
        _register_with_wagtail(model, policy)

    def get_permission_policy(model):
        return policy_registry.get_by_type(model)

    class RegisteredPermissionPolicyMixin:
        """Wagtail 8's viewsets already read the registry."""

    PermissionCheckedMixin = WagtailPermissionCheckedMixin

else:
    _policies = {}

    def register_permission_policy(model, policy=None):
        """The policy Wagtail's screens and ours use for ``model`` (default: model perms)."""
        _policies[model] = policy or ModelPermissionPolicy(model)

    def get_permission_policy(model):
        if model not in _policies:
            _policies[model] = ModelPermissionPolicy(model)
        return _policies[model]

    class RegisteredPermissionPolicyMixin:
        """Wagtail 7.4's viewsets build a plain ``ModelPermissionPolicy`` of their own;
        make them use the registered one, as Wagtail 8 does."""

        @property
        def permission_policy(self):
            return get_permission_policy(self.model)

    class PermissionCheckedMixin(WagtailPermissionCheckedMixin):
        """Wagtail 7.4's mixin checks nothing unless given a policy; Wagtail 8's takes the
        registered policy of the view's ``model``. Do the same here."""

        @property
        def permission_policy(self):
            model = getattr(self, "model", None)
            return model and get_permission_policy(model)


class DRFTokenAuth(APIKeyHeader):
    """``Authorization: Token <key>`` checked against ``rest_framework.authtoken`` (the
    keyword in any case, as DRF reads it).

    Like Wagtail 8's ``BearerTokenAuth``, a presented token decides who the request is: an
    unknown token, or any token when ``rest_framework.authtoken`` is not installed, makes
    the request anonymous even if a session cookie came along.
    """

    param_name = "Authorization"
    openapi_description = (
        "A Django REST framework token (rest_framework.authtoken), sent as "
        "`Authorization: Token <key>`: the token mechanism for Wagtail 7.4 sites."
    )

    def __call__(self, request):
        keyword, _, key = request.headers.get("Authorization", "").partition(" ")
        if keyword.lower() != "token":
            return None
        return self.authenticate(request, key.strip())

    def authenticate(self, request, key):
        token = None
        if key and apps.is_installed("rest_framework.authtoken"):
            from rest_framework.authtoken.models import Token

            token = Token.objects.select_related("user").filter(key=key).first()
        user = token.user if token is not None else None
        if not (user and user.is_active):
            request.user = AnonymousUser()
            return None
        request.user = user
        return token


def results_api_auth():
    """Authentication for the staff results API: the line's token, then the session."""
    from ninja.security import SessionAuth

    if HAS_WAGTAIL_API_TOKENS:
        from wagtail.api.v3.auth import BearerTokenAuth

        return [BearerTokenAuth(), SessionAuth()]
    return [DRFTokenAuth(), SessionAuth()]
