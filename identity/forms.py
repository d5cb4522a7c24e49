"""Forms of the console's pages: input checks only; the services decide."""

from django import forms

from identity.models import IdentifierType
from identity.types.impact import MAX_PRIORITY
from identity.types.labels import FLAGS


class IdentifierTypeForm(forms.Form):
    """A type's editable settings, and the reason for changing them (asked when saving)."""

    label = forms.CharField(max_length=100)
    normaliser = forms.ChoiceField(choices=IdentifierType.Normaliser.choices)
    priority = forms.IntegerField(
        min_value=0, max_value=MAX_PRIORITY,
        help_text="Order in which a record's identifiers are tried when its matchKey value is "
                  "unknown (lowest first).",
    )
    reason = forms.CharField(
        label="Reason for the change", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: it goes to the audit history with the change.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for flag in FLAGS:
            self.fields[flag.name] = forms.BooleanField(
                required=False, label=flag.label, help_text=flag.help
            )
        self.order_fields(["key", "label", "normaliser", "priority",
                           *(flag.name for flag in FLAGS), "reason"])

    @property
    def flag_fields(self):
        return [self[flag.name] for flag in FLAGS]

    def changes(self):
        """The settings as submitted ({field: value}); the service keeps those that differ."""
        return {name: value for name, value in self.cleaned_data.items()
                if name not in ("key", "reason")}


class AddIdentifierTypeForm(IdentifierTypeForm):
    key = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]{0,63}$", max_length=64,
        help_text="The field name writes use, e.g. crm_id: lower-case letters, digits and "
                  "underscores.",
        error_messages={"invalid": "Lower-case letters, digits and underscores, starting with a "
                                   "letter."},
    )
