from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate


def _default_types_for_an_empty_table(sender, apps=global_apps, **kwargs):
    # A database flushed (tests) or emptied by hand gets the default types back.
    from identity.defaults import create_default_types

    IdentifierType = apps.get_model("identity", "IdentifierType")
    if not IdentifierType.objects.exists():
        create_default_types(IdentifierType)


class IdentityConfig(AppConfig):
    name = "identity"

    def ready(self):
        from django.db.models import Field, ForeignObject

        from identity.lookups import Any

        Field.register_lookup(Any)
        ForeignObject.register_lookup(Any)
        post_migrate.connect(
            _default_types_for_an_empty_table, sender=self, dispatch_uid="identity.default_types"
        )
