"""A session's state pages, shared by the dashboard and the admin: what it holds, history, diffs, actions.

- `pages`: the read-only pages (overview, history, diff, export) and their links (`StateLinks`);
- `actions`: the pages that change a state after asking (clear, delete, restore, import);
- `forms`: their forms (JSON state text, action confirmations, session files);
- `views` and `urls`: the dashboard's views of them; the admin's are `sessions_app.admin.state_views`.
"""
