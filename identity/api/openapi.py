"""The OpenAPI 3 description of the HTTP API, served at /api/v1/openapi.json.

Request schemas state what validation accepts (identity/writing/parsing.py): the identifier
types of the day with their normalisers, the attribute names and lengths, the formats; a body
that meets them is refused only for what a schema cannot say (a value that is not a real phone
number, a time in the future, an access contact the record does not hold).
"""

from identity.matching.rules import FEATURE_MAX_LENGTHS
from identity.writing.parsing import (
    ATTRIBUTE_NAME_RE,
    MAX_SOURCE_LENGTH,
    MAX_VALUE_LENGTH,
)
from identity.writing.resolution import identifier_types
from profiles.numbers import LARGEST_READ

ERROR = {"$ref": "#/components/responses/Error"}
GONE = {"$ref": "#/components/responses/NotFoundOrErased"}


def _json(schema_ref, description):
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


# Text PostgreSQL can store: no NUL (parsing.check_text).
NO_NUL = "^[^\\u0000]*$"
# normalisers.EMAIL_RE, either case, blanks around it trimmed.
EMAIL_PATTERN = (
    r"^\s*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\s*$"
)
IDENTIFIER_VALUES = {
    "email": {"type": "string", "pattern": EMAIL_PATTERN, "maxLength": 254,
              "example": " Jane@Example.com"},
    "phone": {"type": "string", "pattern": r"^\s*\+?[0-9][0-9 ().\-/]{5,30}\s*$",
              "description": "A valid number for its country (libphonenumber); without a + "
                             "the default region's", "example": "+1 212 555 1234"},
    "trim": {"anyOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_VALUE_LENGTH,
         "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"},
        {"type": "integer"},
    ], "description": "Any text that is not blank (blanks around it are trimmed), or a whole "
                      "number"},
}
_ATTRIBUTE_VALUE = {
    "type": ["string", "number", "boolean", "null"], "maxLength": MAX_VALUE_LENGTH,
    "pattern": NO_NUL, "description": "Text, a number or true/false; null clears the attribute",
}


def _identifier_schema(type_):
    value = IDENTIFIER_VALUES[type_.normaliser]
    if type_.single_valued:
        return {**value, "description": f"{type_.label}: one value per profile"}
    return {
        "anyOf": [value, {"type": "array", "items": value}],
        "description": f"{type_.label}: one value or a list of them",
    }


def write_schema(types):
    """The body of an upsert under `types` (IdentifierType by key)."""
    unique = sorted(key for key, type_ in types.items() if type_.unique)
    granting = sorted(key for key, type_ in types.items() if type_.can_grant_access)
    attributes = {
        name: {**_ATTRIBUTE_VALUE, "maxLength": longest,
               "description": f"Matched on: at most {longest} characters"}
        for name, longest in FEATURE_MAX_LENGTHS.items() if name not in types
    }
    return {
        "type": "object",
        "required": ["record", "matchKey"],
        "properties": {
            "record": {
                "type": "object",
                "minProperties": 1,
                "description": (
                    "Keys that are identifier-type keys are identifiers (a list for types that "
                    "are not single-valued); other keys are attributes (letters, digits, "
                    f"underscore, at most 64 characters). Values are at most {MAX_VALUE_LENGTH} "
                    "characters; an attribute set to null is cleared."
                ),
                "propertyNames": {"anyOf": [
                    {"enum": sorted(types)}, {"pattern": ATTRIBUTE_NAME_RE.pattern},
                ]},
                "properties": {
                    **attributes,
                    **{key: _identifier_schema(type_) for key, type_ in types.items()},
                },
                "additionalProperties": _ATTRIBUTE_VALUE,
                "example": {"email": "Jane@Example.com ", "first_name": "Jane"},
            },
            "matchKey": {
                "type": "string", "enum": unique,
                "description": "A unique identifier type the record holds a value of",
                "example": "email",
            },
            "observedAt": {
                "type": "string", "format": "date-time",
                "description": "When the data was observed (default: now); at most 5 minutes "
                               "ahead of the server's clock",
            },
            "accessContacts": {
                "type": "array", "items": {"type": "string", "enum": granting},
                "description": "Identifier keys of the record that grant access: types that "
                               "can grant access, each holding a value in the record",
            },
            "source": {
                "type": "string", "maxLength": MAX_SOURCE_LENGTH, "pattern": NO_NUL,
                "description": "Source channel (default: the token's name)",
            },
        },
        # The record holds a value of its matchKey (not an empty list). That it also holds one
        # of each of its accessContacts is said in words: as a schema, it made generating
        # examples (schemathesis) five times slower.
        "anyOf": [
            {"properties": {
                "matchKey": {"const": key},
                "record": {"required": [key], "properties": {key: {"minItems": 1}}},
            }}
            for key in unique
        ],
    }


def with_token_refusals(document):
    """Every call that takes a token may be answered 401 (unknown or revoked) and 429."""
    for operations in document["paths"].values():
        for operation in operations.values():
            if operation.get("security") != []:
                operation["responses"].setdefault("401", ERROR)
                operation["responses"].setdefault("429", {
                    **ERROR, "description": "Over the token's rate limit",
                })
    return document


def openapi_document(types=None):
    """The document under `types` (IdentifierType by key; default: the types of the day)."""
    types = identifier_types() if types is None else types
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mergeguard API",
            "version": "1",
            "description": (
                "Resolve customer-profile writes without creating duplicates, and read profiles. "
                "Every call needs `Authorization: Bearer <token>` (tokens come from "
                "`manage.py create_api_token NAME`); a revoked token is answered 401 "
                "`token_revoked`. Each token may make API_RATE_LIMIT_PER_MINUTE requests a "
                "minute (6,000 unless the server says otherwise); over it, 429 `rate_limited` "
                "with `Retry-After` (seconds)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/profiles/upsert": {
                "post": {
                    "summary": "Resolve a write to a profile, creating one if nothing matches",
                    "operationId": "upsertProfile",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                            "description": (
                                "Repeating a key with the same body returns the first response "
                                "and writes nothing; another body is refused (422); a request "
                                "still running with it is refused (409). Kept at least 24 hours."
                            ),
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Write"}}
                        },
                    },
                    "responses": {
                        "200": _json("Resolution", "Resolved to an existing profile"),
                        "201": _json("Resolution", "A new profile was created"),
                        "400": ERROR, "401": ERROR, "409": ERROR, "413": ERROR, "422": ERROR,
                        "503": ERROR,
                    },
                }
            },
            "/api/v1/profiles/batch": {
                "post": {
                    "summary": "Resolve a batch of writes, each exactly as an upsert, in order",
                    "operationId": "upsertProfiles",
                    "description": (
                        "Up to 1,000 records and 4 MiB in one transaction; a later record sees "
                        "the earlier ones. A record that is invalid rejects only itself: the "
                        "answer has one result or error per record, by index, and an error "
                        "names the field (records[3].record.email). A batch takes no "
                        "Idempotency-Key: sent again, it resolves to the same profiles."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/WriteBatch"}
                        }},
                    },
                    "responses": {
                        "200": _json("BatchResults", "A result or an error for each record"),
                        "400": ERROR, "401": ERROR, "413": ERROR, "503": ERROR,
                    },
                }
            },
            "/api/v1/profiles/lookup": {
                "get": {
                    "summary": "The active profile holding an identifier value (normalised first)",
                    "operationId": "lookupProfile",
                    "parameters": [
                        {"name": "type", "in": "query", "required": True,
                         "schema": {"type": "string", "enum": sorted(types)},
                         "example": "email"},
                        {"name": "value", "in": "query", "required": True,
                         "schema": {"type": "string", "pattern": NO_NUL},
                         "example": " Jane@Example.com"},
                    ],
                    "responses": {
                        "200": _json("Profile", "The profile"),
                        "400": ERROR, "401": ERROR, "404": ERROR,
                    },
                }
            },
            "/api/v1/profiles/{profile_id}": {
                "get": {
                    "summary": "A profile; a merged profile's id redirects (308) to its survivor",
                    "operationId": "getProfile",
                    "parameters": [
                        {"name": "profile_id", "in": "path", "required": True,
                         "schema": {"type": "integer", "minimum": 1}},
                    ],
                    "responses": {
                        "200": _json("Profile", "The profile"),
                        "308": {
                            "description": "Merged: Location names the surviving profile",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        "401": ERROR, "404": GONE,
                    },
                }
            },
            "/api/v1/candidates": {
                "get": {
                    "summary": "Suspected duplicates with evidence, score and blocking reasons",
                    "operationId": "listCandidates",
                    "parameters": [
                        {"name": "status", "in": "query", "required": False,
                         "schema": {"type": "string",
                                    "enum": ["open", "merged", "dismissed", "superseded"]}},
                        {"name": "after", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0, "maximum": LARGEST_READ},
                         "description": "Keyset paging: candidates with a larger id"},
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                    "default": 50}},
                    ],
                    "responses": {
                        "200": _json("CandidatePage", "A page; `next` is the following one"),
                        "400": ERROR, "401": ERROR,
                    },
                }
            },
            **identifier_type_paths(),
            **COMPARE_PATHS,
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "The OpenAPI document"}},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "An error, naming the field at fault where there is one",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
                "NotFoundOrErased": {
                    "description": "Code `not_found`: there never was one with this id. Code "
                                   "`erased`: it went with a person whose data was erased; the "
                                   "message gives the day and the audit entry",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
            "schemas": {
                "Write": write_schema(types),
                "Resolution": {
                    "type": "object",
                    "required": ["profileId", "created", "conflicts"],
                    "properties": {
                        "profileId": {"type": "integer"},
                        "created": {"type": "boolean"},
                        "conflicts": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Conflict"},
                        },
                    },
                },
                "WriteBatch": {
                    "type": "object",
                    "required": ["records"],
                    "properties": {
                        "records": {
                            "type": "array", "minItems": 1, "maxItems": 1000,
                            "items": {"$ref": "#/components/schemas/Write"},
                        },
                    },
                },
                "BatchResults": {
                    "type": "object",
                    "required": ["results", "created", "matched", "rejected"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "description": "One per record, in the records' order",
                            "items": {
                                "type": "object",
                                "required": ["index", "status"],
                                "properties": {
                                    "index": {"type": "integer"},
                                    "status": {
                                        "type": "integer", "enum": [200, 201, 400, 503],
                                        "description": (
                                            "What an upsert of the record alone would answer: "
                                            "201 created, 200 resolved to an existing profile, "
                                            "400 invalid (error), 503 busy (error: send it "
                                            "again)"
                                        ),
                                    },
                                    "profileId": {"type": "integer"},
                                    "created": {"type": "boolean"},
                                    "conflicts": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Conflict"},
                                    },
                                    "error": {
                                        "type": "object",
                                        "properties": {
                                            "code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "field": {"type": ["string", "null"],
                                                      "example": "records[3].record.email"},
                                        },
                                    },
                                },
                            },
                        },
                        "created": {"type": "integer"},
                        "matched": {"type": "integer"},
                        "rejected": {"type": "integer"},
                    },
                },
                "Conflict": {
                    "type": "object",
                    "properties": {
                        "kind": {
                            "type": "string", "enum": ["collision", "conflict"],
                            "description": (
                                "collision: a unique value held by another profile (a duplicate "
                                "candidate is opened); conflict: a do-not-merge single-valued "
                                "type where the profile holds another value (not stored)"
                            ),
                        },
                        "type": {"type": "string"},
                        "value": {"type": "string"},
                        "heldBy": {"type": ["integer", "null"]},
                        "candidateId": {"type": ["integer", "null"]},
                        "currentValue": {"type": "string"},
                    },
                },
                "Profile": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string", "enum": ["active", "merged"]},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"},
                        "attributes": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "properties": {
                                    "value": {},
                                    "observedAt": {"type": "string", "format": "date-time"},
                                },
                            },
                        },
                        "identifiers": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "type": {"type": "string"},
                                    "value": {"type": "string"},
                                    "rawValue": {"type": "string"},
                                    "current": {"type": "boolean"},
                                    "grantsAccess": {"type": "boolean"},
                                    "source": {"type": "string"},
                                    "firstSeen": {"type": "string", "format": "date-time"},
                                    "lastSeen": {"type": "string", "format": "date-time"},
                                },
                            },
                        },
                    },
                },
                "CandidatePage": {
                    "type": "object",
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Candidate"},
                        },
                        "next": {"type": ["string", "null"]},
                    },
                },
                "Candidate": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string"},
                        "score": {"type": "number"},
                        "autoMerge": {"type": "boolean"},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "updatedAt": {"type": "string", "format": "date-time"},
                        "profileIds": {"type": "array", "items": {"type": "integer"}},
                        "mergeId": {
                            "type": ["integer", "null"],
                            "description": "The merge job that closed it (status merged)",
                        },
                        "evidence": {
                            "type": "array", "items": {"type": "object"},
                            "description": (
                                "What matched: rule shared_value (type, value), collision "
                                "(type, value), similar_people (each field's level and weight)"
                            ),
                        },
                        "blockingReasons": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "code": {"type": "string", "enum": [
                                        "unique_id_conflict", "access_contact_mismatch",
                                        "previously_dismissed", "inactive_profile",
                                        "merge_in_progress"]},
                                    "title": {"type": "string"},
                                    "evidence": {"type": "object"},
                                    "rule": {"type": "string"},
                                    "remedies": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        },
                    },
                },
                **IDENTIFIER_TYPE_SCHEMAS,
                **COMPARE_SCHEMAS,
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": ["string", "null"]},
                            },
                        }
                    },
                },
            },
        },
    }


# -- identifier types (SPEC 8a) -----------------------------------------------------------------

_KEY = {"name": "key", "in": "path", "required": True,
        "schema": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
        "example": "loyalty_card"}
_REFUSED = {
    "description": (
        "The data forbids the change (unique or single_valued while profiles share or hold "
        "several values; auto_merge on a type that is not unique): `error` says why, `sample` "
        "shows some of the data at fault and `count` how much there is. Nothing is changed."
    ),
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}},
}


def identifier_type_paths():
    return {
        "/api/v1/identifier-types": {
            "get": {
                "summary": "The identifier types with their settings",
                "operationId": "listIdentifierTypes",
                "responses": {
                    "200": _json("IdentifierTypeList", "Every type, in priority order"),
                    "401": ERROR, "403": ERROR,
                },
            }
        },
        "/api/v1/identifier-types/{key}": {
            "get": {
                "summary": "One identifier type",
                "operationId": "getIdentifierType",
                "parameters": [_KEY],
                "responses": {"200": _json("IdentifierType", "The type"),
                              "401": ERROR, "403": ERROR, "404": ERROR},
            },
            "patch": {
                "summary": "Change a type's settings, with a reason for the audit history",
                "description": (
                    "Applied as the settings page applies it: needs a token acting for a user "
                    "with identity.change_identifiertype (senior stewards, admins). Blocking "
                    "reasons are then recomputed, detection run and, for a normaliser change, "
                    "every value re-normalised, as background jobs (`jobs`)."
                ),
                "operationId": "changeIdentifierType",
                "parameters": [_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/IdentifierTypeChange"}}}},
                "responses": {
                    "200": _json("IdentifierTypeChanged", "Saved; the jobs it queued"),
                    "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR, "409": _REFUSED,
                },
            },
        },
        "/api/v1/identifier-types/{key}/preview": {
            "post": {
                "summary": "The impact of a change on the real data, without saving it",
                "description": (
                    "Judged with the same blocking rules as the queue: open candidates that "
                    "become blocked or unblocked, by reason code; new suspected pairs (matchable "
                    "turned on); automatic merges the auto_merge setting would allow; a sample of "
                    "affected candidate ids."
                ),
                "operationId": "previewIdentifierTypeChange",
                "parameters": [_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["changes"],
                    "properties": {"changes": {"$ref": "#/components/schemas/TypeSettings"}},
                }}}},
                "responses": {
                    "200": _json("Impact", "What the change would do"),
                    "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR, "409": _REFUSED,
                },
            }
        },
    }


_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"},
           "description": "Candidates by blocking reason code", "example": {
               "unique_id_conflict": 12}}
_SETTINGS = {
    "label": {"type": "string", "maxLength": 100},
    "normaliser": {"type": "string", "enum": ["email", "phone", "trim"]},
    "priority": {"type": "integer", "minimum": 0, "maximum": 32767},
    **{flag: {"type": "boolean"} for flag in (
        "unique", "single_valued", "do_not_merge", "can_grant_access", "matchable", "auto_merge")},
}
IDENTIFIER_TYPE_SCHEMAS = {
    "TypeSettings": {
        "type": "object", "properties": _SETTINGS, "additionalProperties": False,
        "example": {"do_not_merge": False},
    },
    "IdentifierType": {
        "type": "object",
        "properties": {"key": {"type": "string"}, **_SETTINGS},
    },
    "IdentifierTypeList": {
        "type": "object",
        "properties": {"results": {"type": "array",
                                   "items": {"$ref": "#/components/schemas/IdentifierType"}}},
    },
    "IdentifierTypeChange": {
        "type": "object", "required": ["changes", "reason"],
        "properties": {
            "changes": {"$ref": "#/components/schemas/TypeSettings"},
            "reason": {"type": "string", "description": "Why: kept in the audit history"},
        },
    },
    "IdentifierTypeChanged": {
        "allOf": [{"$ref": "#/components/schemas/IdentifierType"}, {
            "type": "object",
            "properties": {"jobs": {"type": "array", "items": {
                "type": "object",
                "properties": {"id": {"type": "integer"},
                               "kind": {"type": "string", "enum": ["recompute", "renormalise"]},
                               "status": {"type": "string"}},
            }}},
        }],
    },
    "Impact": {
        "type": "object",
        "required": ["becomeBlocked", "becomeUnblocked", "newPairs", "autoMerges", "sample"],
        "properties": {
            "becomeBlocked": _COUNTS,
            "becomeUnblocked": _COUNTS,
            "reasonsAdded": {**_COUNTS, "description": "Still-blocked candidates gaining a reason"},
            "reasonsRemoved": {**_COUNTS, "description": "Still-blocked candidates losing one"},
            "blockedTotal": {"type": "integer"},
            "unblockedTotal": {"type": "integer"},
            "candidatesJudged": {"type": "integer"},
            "newPairs": {"type": "integer"},
            "pairSample": {"type": "array", "items": {"type": "array",
                                                      "items": {"type": "integer"}}},
            "losingEvidence": {"type": "integer"},
            "autoMerges": {"type": "integer"},
            "accessCleared": {"type": "integer"},
            "valuesToRenormalise": {"type": "integer"},
            "sample": {"type": "array", "items": {"type": "integer"},
                       "description": "Ids of affected candidates"},
        },
    },
    "Refusal": {
        "type": "object",
        "properties": {
            "error": {"type": "object", "properties": {
                "code": {"type": "string", "enum": [
                    "values_shared", "several_values", "auto_merge_needs_unique",
                    "conflicting_data"]},
                "message": {"type": "string"},
                "field": {"type": "string"},
            }},
            "sample": {"type": "array", "items": {"type": "object"}},
            "count": {"type": "integer"},
        },
    },
}


# -- "why not?" (SPEC 8, the API twin of /compare/) -----------------------------------------------

_PROFILE_ID = {"type": "integer", "minimum": 0, "maximum": LARGEST_READ,
               "description": "A profile id; a merged one is answered for its survivor"}
COMPARE_PATHS = {
    "/api/v1/compare": {
        "get": {
            "summary": "What detection says of two profiles (\"why not?\")",
            "description": (
                "Worked out by the statements detection runs, restricted to the pair: which "
                "linkage keys bring them together (or why none does), each field's comparison "
                "level and weight, the similar-people score against the threshold, the values "
                "both hold (junk values marked), identity collisions, the blocking reasons that "
                "would apply to merging them, and the suggestions holding both. 409 when both "
                "ids land on one profile (merged)."
            ),
            "operationId": "compareProfiles",
            "parameters": [
                {"name": "a", "in": "query", "required": True, "schema": _PROFILE_ID},
                {"name": "b", "in": "query", "required": True, "schema": _PROFILE_ID},
            ],
            "responses": {
                "200": _json("PairComparison", "What detection says of the pair"),
                "400": ERROR, "401": ERROR, "403": ERROR, "404": ERROR, "409": ERROR,
            },
        }
    },
}
_SIDE = {"type": "object", "properties": {
    "id": {"type": "integer", "description": "The active profile compared"},
    "requested": {"type": "integer", "description": "The id asked for (a merged one's survivor "
                                                    "is compared)"},
}}
COMPARE_SCHEMAS = {
    "PairComparison": {
        "type": "object",
        "properties": {
            "a": _SIDE,
            "b": _SIDE,
            "suggested": {"type": "boolean", "description": "Detection pairs them"},
            "ways": {"type": "array", "items": {"type": "string"},
                     "description": "How detection pairs them, in words"},
            "whyNot": {"type": "array", "items": {"type": "string"},
                       "description": "Why detection does not pair them, in words"},
            "linkageKeys": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "shared": {"type": "boolean"},
                "why": {"type": ["string", "null"]},
            }}},
            "similarity": {"type": "object", "properties": {
                "score": {"type": ["number", "null"]},
                "threshold": {"type": "number"},
                "passes": {"type": "boolean"},
                "fields": {"type": "object", "additionalProperties": {
                    "type": "object", "properties": {
                        "level": {"type": "string", "enum": [
                            "exact", "nickname", "close", "far", "swapped", "missing",
                            "by postcode"]},
                        "weight": {"type": "number"},
                        "values": {"type": "array", "items": {}},
                    }}},
            }},
            "sharedValues": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": "string"}, "typeLabel": {"type": "string"},
                "value": {"type": "string"},
                "current": {"type": "array", "items": {"type": "boolean"}},
                "matchable": {"type": "boolean"}, "pairs": {"type": "boolean"},
                "junk": {"type": "boolean"}, "holders": {"type": ["integer", "null"]},
            }}},
            "collisions": {"type": "array", "items": {"type": "object"}},
            "blockingReasons": {"type": "array", "items": {"type": "object"},
                                "description": "As in a candidate's blockingReasons"},
            "candidates": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "status": {"type": "string"},
                "score": {"type": "number"},
                "profileIds": {"type": "array", "items": {"type": "integer"}},
                "dismissedBy": {"type": ["string", "null"]},
                "dismissedAt": {"type": ["string", "null"], "format": "date-time"},
                "dismissReason": {"type": ["string", "null"]},
            }}},
        },
    },
}
