"""On PostgreSQL, tell listening web processes when a run gets events or changes status.

Every writer (a worker, the reaper, the admin, a failed start) goes through these tables, so
the triggers wake the live streams whoever wrote; elsewhere the streams poll and this does
nothing. The payload is the run's primary key; PostgreSQL sends one notification per run and
transaction however many rows it touched.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION wfsite_run_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'sessions_app_runevent' THEN
        PERFORM pg_notify('wfsite_runs', NEW.run_id::text);
    ELSE
        PERFORM pg_notify('wfsite_runs', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER wfsite_runevent_notify AFTER INSERT ON sessions_app_runevent
    FOR EACH ROW EXECUTE FUNCTION wfsite_run_changed();
CREATE TRIGGER wfsite_workflowrun_notify AFTER UPDATE OF status ON sessions_app_workflowrun
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION wfsite_run_changed();
"""
DROP = """
DROP TRIGGER IF EXISTS wfsite_workflowrun_notify ON sessions_app_workflowrun;
DROP TRIGGER IF EXISTS wfsite_runevent_notify ON sessions_app_runevent;
DROP FUNCTION IF EXISTS wfsite_run_changed();
"""


def on_postgresql(sql: str):  # noqa: ANN201 -- RunPython's callable
    def run(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0004_cache_declaration")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP), elidable=False)]
