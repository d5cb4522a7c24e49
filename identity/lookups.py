"""`field__any=[...]`: `field = ANY(%s)` with the list sent as one array parameter.

`field__in` sends one parameter per value; with thousands of ids (a page of groups' profiles,
detection saving a chunk of candidates) building and parsing that statement costs more than
running it. Registered on every field when the identity app is ready.
"""

from django.db.models import Lookup


class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]
