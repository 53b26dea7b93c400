"""The four roles, as Django groups of permissions; `manage.py create_roles` makes them.

- viewer: browse sessions, their state, runs and history;
- runner: a viewer who can start runs;
- editor: a runner who can edit, clear and restore state, and import sessions;
- admin: everything, including deleting sessions (Django's staff/superuser flags still gate /admin/).
"""

from __future__ import annotations

VIEW = (
    "sessions_app.view_workflowsession",
    "sessions_app.view_workflowrun",
    "sessions_app.view_runevent",
    "sessions_app.view_statechange",
    "sessions_app.view_stateentry",
)
RUN = ("sessions_app.add_workflowrun", "sessions_app.add_workflowsession")
EDIT = (
    "sessions_app.change_workflowsession",
    "sessions_app.change_stateentry",
    "sessions_app.delete_stateentry",
    "sessions_app.add_statechange",
)
ADMINISTER = (
    "sessions_app.delete_workflowsession",
    "sessions_app.change_workflowrun",
    "sessions_app.delete_workflowrun",
)

ROLES: dict[str, tuple[str, ...]] = {
    "viewer": VIEW,
    "runner": VIEW + RUN,
    "editor": VIEW + RUN + EDIT,
    "admin": VIEW + RUN + EDIT + ADMINISTER,
}

# What each capability needs, for views and services to check.
CAN_VIEW = "sessions_app.view_workflowsession"
CAN_RUN = "sessions_app.add_workflowrun"
CAN_CREATE_SESSION = "sessions_app.add_workflowsession"
CAN_EDIT_STATE = "sessions_app.change_workflowsession"
CAN_DELETE_SESSION = "sessions_app.delete_workflowsession"
CAN_DELETE_RUN = "sessions_app.delete_workflowrun"
# Pruning old records (`manage.py prune`) deletes rows no page shows, so it is an admin's.
CAN_PRUNE = CAN_DELETE_RUN
# Making the role groups is Django's own permission on groups.
CAN_MANAGE_ROLES = ("auth.add_group", "auth.change_group")

# What each role adds, in words, for the pages that tell a person which role they need.
ROLE_SUMMARIES: dict[str, str] = {
    "viewer": "browse sessions, their state, runs and history",
    "runner": "also start runs and create sessions",
    "editor": "also edit, clear, delete, restore and import state",
    "admin": "also delete sessions and runs",
}


def role_needed(*perms: str) -> str:
    """Return the first (least powerful) role that grants every one of `perms`; "" when none does."""
    wanted = set(perms)
    return next((name for name, granted in ROLES.items() if wanted <= set(granted)), "")


def refusal(*perms: str, doing: str = "do this") -> str:
    """Say, in a sentence for the 403 page, which role doing something needs."""
    role = role_needed(*perms)
    if not role:
        return f"Your account may not {doing}: it needs {', '.join(perms)}."
    return f"You need the {role} role to {doing}."
