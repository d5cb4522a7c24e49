from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate


def _sync_roles(sender, apps=global_apps, **kwargs):
    from merges.roles import sync_roles

    sync_roles(apps)


class MergesConfig(AppConfig):
    name = "merges"

    def ready(self):
        from identity import hooks
        from merges import audit, selectors, services
        from merges.audit.selectors import erasure_of

        # What identity needs from this app, without importing it (identity.hooks).
        hooks.register(
            record_action=audit.record, jobs_in_progress=selectors.jobs_in_progress,
            profiles_linked=services.queue_automatic_merges,
            merge_job=selectors.merge_job_facts, erasure=erasure_of,
        )
        # After migrate and after a flush (tests), the roles are exactly as merges/roles.py says.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="merges.sync_roles")
