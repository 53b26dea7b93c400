"""On PostgreSQL, tell listening web processes when what a session's pages show may have changed.

`NOTIFY wfsite_sessions, '<session pk>'` when one of its runs is created or changes status, and
when its row's state version, run count or last run status changes, whoever wrote it (a worker,
the admin, the API, the reaper). Elsewhere the session streams poll and this does nothing.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION wfsite_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'sessions_app_workflowrun' THEN
        PERFORM pg_notify('wfsite_sessions', NEW.session_id::text);
    ELSE
        PERFORM pg_notify('wfsite_sessions', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER wfsite_run_session_insert_notify AFTER INSERT ON sessions_app_workflowrun
    FOR EACH ROW EXECUTE FUNCTION wfsite_session_changed();
CREATE TRIGGER wfsite_run_session_status_notify AFTER UPDATE OF status ON sessions_app_workflowrun
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION wfsite_session_changed();
CREATE TRIGGER wfsite_session_notify AFTER UPDATE ON sessions_app_workflowsession
    FOR EACH ROW WHEN (
        (OLD.version, OLD.run_count, OLD.last_run_status) IS DISTINCT FROM
        (NEW.version, NEW.run_count, NEW.last_run_status)
    ) EXECUTE FUNCTION wfsite_session_changed();
"""
DROP = """
DROP TRIGGER IF EXISTS wfsite_session_notify ON sessions_app_workflowsession;
DROP TRIGGER IF EXISTS wfsite_run_session_status_notify ON sessions_app_workflowrun;
DROP TRIGGER IF EXISTS wfsite_run_session_insert_notify ON sessions_app_workflowrun;
DROP FUNCTION IF EXISTS wfsite_session_changed();
"""


def on_postgresql(sql: str):  # noqa: ANN201 -- RunPython's callable
    def run(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    # Both: main has 0007_run_cancel and 0008_forks side by side (each after 0006); this joins them.
    dependencies = [("sessions_app", "0007_run_cancel"), ("sessions_app", "0008_forks")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP), elidable=False)]
