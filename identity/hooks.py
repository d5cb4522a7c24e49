"""What identity needs from the app above it, registered by that app when Django starts.

Apps depend one way (`profiles` <- `identity` <- `merges`): identity never imports merges. Two
things it still needs from there go through these hooks, which `merges.apps` registers in
`ready()`:

- the audit history: identity's services record what stewards do (claims, dismissals,
  identifier edits) in their own transaction through `record_action`;
- the merge jobs in progress: a group with a queued or running merge is blocked
  (`merge_in_progress`), so the blocking state reads them through `jobs_in_progress`;
- automatic merges: a write that links two profiles through an `auto_merge` type hands them to
  `profiles_linked` when it commits (SPEC 3), and merges decides whether anything blocks;
- a merged candidate's page says which merge closed it, who asked and when (`merge_job`), and
  the address of an erased profile, candidate or merge job says who erased it (`erasure`).

A hook called before it is registered raises: an action that cannot be audited is refused, not
performed silently.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured

_hooks = {}


@dataclass(frozen=True)
class MergeJobFacts:
    job_id: int
    requested_by: str | None  # a username; None: the system (an automatic merge)
    survivor_id: int


@dataclass(frozen=True)
class ErasureFacts:
    entry_id: int  # the audit entry recording the erasure
    erased_at: datetime
    erased_by: str  # in words: a username, or "an operator at the command line"
    profile_ids: tuple  # the person's profiles it erased


def register(*, record_action, jobs_in_progress, profiles_linked, merge_job, erasure):
    """Called once by the app above (merges.apps.MergesConfig.ready)."""
    _hooks.update(record_action=record_action, jobs_in_progress=jobs_in_progress,
                  profiles_linked=profiles_linked, merge_job=merge_job, erasure=erasure)


def _hook(name):
    try:
        return _hooks[name]
    except KeyError:
        raise ImproperlyConfigured(f"no {name} hook registered: is merges installed?") from None


def record_action(*, actor, action, targets, before=None, after=None):
    """Append an audit entry in the caller's transaction (merges.audit.record)."""
    return _hook("record_action")(
        actor=actor, action=action, targets=targets, before=before, after=after
    )


def jobs_in_progress(profile_ids, *, excluding_job_id=None):
    """Queued or running merge jobs holding any of these profiles (any profile for None), as
    blocking.JobState."""
    return _hook("jobs_in_progress")(profile_ids, excluding_job_id=excluding_job_id)


def profiles_linked(links):
    """After a write committed: [candidate id, target, holder] linked through auto-merge types."""
    return _hook("profiles_linked")(links)


def merge_job(job_id):
    """MergeJobFacts of a merge job, or None when it is gone (erased with its person)."""
    return _hook("merge_job")(job_id)


def erasure(kind, pk):
    """ErasureFacts of the erasure that removed the "profile", "candidate" or "merge job" `pk`
    with its person, or None."""
    return _hook("erasure")(kind, pk)
