"""Database backends of the project's own: Django's, changed where the site's load needs it."""
