"""The words stewards see for each audited action (SPEC 8: labels, the code in small print)."""

ACTIONS = {
    "merge.requested": "Merge requested",
    "merge.override": "Blocking reasons overridden",
    "merge.succeeded": "Merge succeeded",
    "merge.failed": "Merge failed",
    "candidate.claimed": "Candidate claimed",
    "candidate.unclaimed": "Candidate unclaimed",
    "candidate.dismissed": "Candidate dismissed",
    "candidate.reopened": "Candidate reopened",
    "identifier.edited": "Identifier edited",
    "identifier.removed": "Identifier removed",
    "identifier_type.added": "Identifier type added",
    "identifier_type.changed": "Identifier type changed",
    "user.added": "User added",
    "user.changed": "User changed",
    "user.roles_changed": "Roles changed",
    "user.password_changed": "Password changed",
    "user.deleted": "User deleted",
    "role.added": "Role added",
    "role.changed": "Role permissions changed",
    "role.deleted": "Role deleted",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "person.erased": "Person erased",
}


def action_label(code):
    """The label of an action; one not listed yet still reads as words."""
    return ACTIONS.get(code) or code.replace("_", " ").replace(".", " ").capitalize()


# Target keys, as a steward reads them ("profile 34", "candidate 12").
TARGET_NOUNS = {
    "profile": "profile",
    "profiles": "profile",
    "survivor": "survivor: profile",
    "merged": "merged: profile",
    "candidate": "candidate",
    "candidates": "candidate",
    "merge_job": "merge job",
    "identifier": "identifier",
    "identifier_type": "identifier type",
    "type": "identifier type",
    "user": "user",
    "group": "role",
    "api_token": "API token",
    "job": "identifier-type job",
    "payloads_erased": "payload erased of entry",
    "candidates_erased": "candidate erased",
    "merge_jobs_erased": "merge job erased",
}


def target_noun(key):
    return TARGET_NOUNS.get(key, key.replace("_", " "))
