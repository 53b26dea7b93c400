from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from sessions_app.state.codec import StoredJSONField


def field_max_length(model: type[models.Model], name: str) -> int:
    """Return a text field's max_length: the limit forms and services check before a write."""
    length = getattr(model._meta.get_field(name), "max_length", None)
    assert isinstance(length, int), f"{model.__name__}.{name} has no max_length"
    return length


class WorkflowSessionQuerySet(models.QuerySet["WorkflowSession"]):
    def for_list(self) -> WorkflowSessionQuerySet:
        """Select what the session list shows, never the state itself."""
        return self.defer("session_state", "list_keys")

    def recently_updated(self) -> WorkflowSessionQuerySet:
        """Order by last update, newest first."""
        return self.order_by("-updated_at", "-id")


class WorkflowSession(models.Model):
    """One session_id's state, split so that caches grow by rows, not by rewriting a document.

    A workflow's state is a JSON object. Its top-level values that are lists (the blog-post
    cache is one) are stored one element per `StateEntry` row, in order; everything else stays
    in `session_state`. Appending a cached post then inserts one row instead of rewriting every
    post, a cached entry is found by an indexed lookup, and the list page reads only this row's
    small columns. `list_keys` names the keys held as rows (in the state's key order) so an empty
    list is kept as an empty list. Read the whole state with `selectors.session_state_get`.

    `version` goes up by one on every change of the state; a write that was prepared at an older
    version is merged (see `sessions_app.workflow.state`) instead of overwriting.
    """

    session_id = models.CharField(max_length=255, unique=True)
    workflow = models.CharField(max_length=200, db_index=True)
    user_id = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    session_state = StoredJSONField(default=dict, blank=True)
    list_keys = StoredJSONField(default=list, blank=True)
    version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    # Kept up to date on every write so the list page needs no joins or aggregates.
    state_size = models.PositiveBigIntegerField(default=0)
    cache_entries = models.PositiveIntegerField(default=0)
    run_count = models.PositiveIntegerField(default=0)
    last_run_status = models.CharField(max_length=16, blank=True, default="")

    # A fork starts from a version of another session. The source's id and version are kept as
    # text too, so a fork still says where it came from after its source is deleted.
    forked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks"
    )
    forked_from_session_id = models.CharField(max_length=255, blank=True, default="")
    forked_from_version = models.PositiveBigIntegerField(null=True, blank=True)

    objects = WorkflowSessionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["-updated_at", "-id"], name="session_recent_idx"),
            models.Index(fields=["workflow", "-updated_at"], name="session_workflow_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.session_id


class StateEntry(models.Model):
    """One element of a list in a session's state.

    `lookup_key` is the element's key in the cache its workflow declares for that list (see
    `sessions_app.workflow.cache`), or "" when the list is not a declared cache.
    """

    session = models.ForeignKey(WorkflowSession, on_delete=models.CASCADE, related_name="entries")
    key = models.CharField(max_length=255)
    position = models.PositiveIntegerField()
    value = StoredJSONField()
    lookup_key = models.CharField(max_length=500, blank=True, default="")
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "key", "position"], name="entry_unique_position"),
        ]
        # Position last, so "the newest entry for this key" is one index probe, not a scan.
        indexes = [models.Index(fields=["session", "key", "lookup_key", "position"], name="entry_lookup_idx")]
        ordering = ["session", "key", "position"]

    def __str__(self) -> str:
        return f"{self.key}[{self.position}]"


class WorkflowRunQuerySet(models.QuerySet["WorkflowRun"]):
    def active(self) -> WorkflowRunQuerySet:
        """Runs that are queued or running."""
        return self.filter(status__in=[WorkflowRun.Status.QUEUED, WorkflowRun.Status.RUNNING])

    def stale(self, *, now: datetime | None = None, after: timedelta | None = None) -> WorkflowRunQuerySet:
        """Running runs whose worker has not sent a heartbeat within `after`."""
        now = now or timezone.now()
        after = after or timedelta(seconds=settings.WFSITE_HEARTBEAT_TIMEOUT)
        return self.filter(status=WorkflowRun.Status.RUNNING, heartbeat_at__lt=now - after)


class WorkflowRun(models.Model):
    """One run of a workflow on a session, from the form (or the engine) to its end."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

    run_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey(WorkflowSession, on_delete=models.CASCADE, related_name="runs")
    workflow = models.CharField(max_length=200)
    inputs = StoredJSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    cache_hit = models.BooleanField(default=False)
    # Runs for the same session and key (their result cache's key) share one generation.
    flight_key = models.CharField(max_length=500, blank=True, default="")
    # A cached entry older than its cache's ttl may answer this run.
    accept_stale = models.BooleanField(default=False)
    # A cache hit: the entry that answered ("<cache>:<key>"), and what producing it had cost.
    cache_key = models.CharField(max_length=800, blank=True, default="")
    saved_seconds = models.FloatField(null=True, blank=True)
    saved_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    saved_tokens_estimated = models.BooleanField(default=False)
    # What the run's model calls used, where they reported it (the offline model estimates).
    prompt_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    output = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    unsaved_state = models.TextField(blank=True, default="")
    state_version = models.PositiveBigIntegerField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="workflow_runs",
    )
    task_id = models.CharField(max_length=64, blank=True, default="")
    # A cancel asked for while the run ran; its worker notices between two events and ends it.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cancelled_workflow_runs",
    )

    objects = WorkflowRunQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["session", "-created_at"], name="run_session_recent_idx"),
            models.Index(fields=["session", "flight_key", "status"], name="run_flight_idx"),
            # Run starts are rate-limited per user over a recent window; the runs list filters by starter.
            models.Index(fields=["started_by", "-created_at", "-id"], name="run_user_list_idx"),
            # The runs list (`selectors.runs.runs_list`): newest first, alone or within one filter,
            # so each page is an index range read, never a sort of every run.
            models.Index(fields=["-created_at", "-id"], name="run_recent_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="run_status_recent_idx"),
            models.Index(fields=["workflow", "-created_at", "-id"], name="run_workflow_recent_idx"),
            models.Index(fields=["cache_hit", "-created_at", "-id"], name="run_cache_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow} run {self.run_id}"

    @property
    def is_finished(self) -> bool:
        """Whether the run has ended, well or not."""
        return self.status in self.FINISHED

    @property
    def total_tokens(self) -> int | None:
        """Prompt and completion tokens together, when the model reported them."""
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    @property
    def duration(self) -> timedelta | None:
        """Wall time from start to end, once both are known."""
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    def mark_running(self, *, now: datetime | None = None) -> None:
        """Record that a worker picked the run up."""
        now = now or timezone.now()
        self.status, self.started_at, self.heartbeat_at = self.Status.RUNNING, now, now
        self.save(update_fields=["status", "started_at", "heartbeat_at"])

    def mark_finished(self, status: str, *, error: str = "", now: datetime | None = None) -> None:
        """Record how the run ended."""
        self.status, self.error = status, error
        self.finished_at = now or timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])

    def mark_failed(self, error: str) -> None:
        """Record that the run failed, with a message a person can read."""
        self.mark_finished(self.Status.FAILED, error=error)


class RunEvent(models.Model):
    """One event a run yielded, in order; read-only once written (the event stream tails these)."""

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    event = models.CharField(max_length=64)
    content = models.TextField(blank=True, default="")
    data = StoredJSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="event_unique_seq")]
        ordering = ["run", "seq"]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.event}"


class StateChange(models.Model):
    """One change of a session's state: who or what made it, and the ops that made it."""

    class Source(models.TextChoices):
        RUN = "run"
        EDIT = "edit"
        CLEAR = "clear"
        RESTORE = "restore"
        IMPORT = "import"
        UNDO = "undo"
        FORK = "fork"

    session = models.ForeignKey(WorkflowSession, on_delete=models.CASCADE, related_name="changes")
    version = models.PositiveBigIntegerField()
    source = models.CharField(max_length=16, choices=Source.choices)
    ops = StoredJSONField(default=list)
    summary = models.CharField(max_length=500, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="state_changes",
    )
    run = models.ForeignKey(
        WorkflowRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "version"], name="change_unique_version")]
        ordering = ["session", "-version"]

    def __str__(self) -> str:
        return f"{self.session_id} v{self.version} ({self.source})"


class CacheEntryStats(models.Model):
    """What is known of one cached entry beyond its value: since when it is cached, its hits, its cost.

    Keyed by the cache (its state key) and the entry's key, not by the row that holds the value:
    a restore, an import, a clear and undo or a history fold rewrites rows, and the entry keeps
    its age and hits as long as its content is the same (`content_hash`); new content starts
    afresh. The run that produced the content gives the time and tokens each hit saves.
    """

    session = models.ForeignKey(WorkflowSession, on_delete=models.CASCADE, related_name="cache_stats")
    cache = models.CharField(max_length=255)
    key = models.CharField(max_length=500)
    content_hash = models.CharField(max_length=64)
    stored_at = models.DateTimeField(default=timezone.now)
    hits = models.PositiveIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    # The run that produced the content (its WorkflowRun's run_id), when a run did.
    produced_by = models.UUIDField(null=True, blank=True)
    generation_seconds = models.FloatField(null=True, blank=True)
    tokens = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_estimated = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "cache", "key"], name="cache_stats_unique_key"),
        ]
        verbose_name_plural = "cache entry stats"

    def __str__(self) -> str:
        return f"{self.cache}:{self.key}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        """Tokens that have not been revoked."""
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A person's token for the JSON API, shown to them once and kept only as a SHA-256 digest.

    A token is 32 random bytes, so a fast digest is as safe as a slow password hash: nobody can
    guess their way back from it, and every API request can look its token up by the digest's
    unique index. `prefix` (the token's first characters) lets people tell their tokens apart.
    A revoked token keeps its row, so the page can say when it was revoked and by whom it was used.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
