"""SQLite with a write gate (`base.DatabaseWrapper`); `DATABASES` ENGINE `sessions_app.db_backends.sqlite3`."""
