"""What stewards read instead of codes (SPEC 8): the flags of an identifier type, its
normalisers, and the blocking reasons a change makes or unmakes."""

from dataclasses import dataclass

from identity.candidates.filters import REASONS


@dataclass(frozen=True)
class Flag:
    name: str
    label: str
    short: str  # a column heading
    help: str


FLAGS = (
    Flag("unique", "Unique", "Unique",
         "A value belongs to at most one active profile; the database enforces it."),
    Flag("single_valued", "One value per profile", "One per profile",
         "A profile holds at most one current value; a new one replaces the old."),
    Flag("do_not_merge", "Do not merge customers with different IDs", "Do not merge",
         "Two profiles holding different values are never merged without an audited override."),
    Flag("can_grant_access", "Can grant account access", "Grants access",
         "Values may be marked as the credential a customer logs in with. Turning it off stops "
         "every value of the type from granting access."),
    Flag("matchable", "Shared values suggest duplicates", "Matchable",
         "Profiles sharing a value are suspected duplicates."),
    Flag("auto_merge", "Merge automatically", "Auto-merge",
         "Unique types only: a write linking two profiles through a value merges them when "
         "nothing blocks it."),
)
FLAG_NAMES = tuple(flag.name for flag in FLAGS)
FLAG_LABELS = {flag.name: flag.label for flag in FLAGS}
FIELD_LABELS = {**FLAG_LABELS, "label": "Label", "normaliser": "Normaliser",
                "priority": "Priority", "key": "Key"}
REASON_LABELS = dict(REASONS)


def reason_label(code):
    return REASON_LABELS.get(code, code)
