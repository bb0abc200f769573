"""Permission policies for rows that visitors create and staff only read."""

from django.contrib.auth import get_user_model
from wagtail.permission_policies import ModelPermissionPolicy


class RecordedDataPermissionPolicy(ModelPermissionPolicy):
    """Django model permissions, limited to ``allowed_actions``: leads and events are
    written by visitors, so no one may add or edit them in the admin."""

    def __init__(self, model, allowed_actions):
        super().__init__(model)
        self.allowed_actions = frozenset(allowed_actions)

    def user_has_permission(self, user, action):
        return action in self.allowed_actions and super().user_has_permission(user, action)

    def users_with_any_permission(self, actions):
        allowed = [action for action in actions if action in self.allowed_actions]
        if not allowed:
            return get_user_model().objects.none()
        return super().users_with_any_permission(allowed)
