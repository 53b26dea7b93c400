"""The engine's storage on the dashboard's models: rows, layout, change history.

- `storage`: `DjangoWorkflowStorage`, the engine's `WorkflowStorage` on these models;
- `store`: reading and writing a session's whole state in its rows (`state_load`, `state_write_ops`);
- `rows`: writing engine ops to the rows they touch; `layout`: which values become rows, and sizes;
- `changes`: how a `StateChange` records its ops, and their one-line summaries;
- `runs`: the engine's run records as `WorkflowRun` rows.
"""
