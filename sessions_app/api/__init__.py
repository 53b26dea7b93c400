"""The JSON API under `/api/v1/` (django-ninja): typed schemas, bearer tokens, one error shape.

Thin like the views: each endpoint checks the role its read needs, parses the request, and calls
a service or selector; every write's own permission check is the service's. `app.py` builds the
API and its URLs, one module per resource holds its endpoints.
"""
