"""The OpenAPI 3 description of the HTTP API, served at /api/v1/openapi.json."""

ERROR = {"$ref": "#/components/responses/Error"}


def _json(schema_ref, description):
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def openapi_document():
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Mergeguard API",
            "version": "1",
            "description": (
                "Resolve customer-profile writes without creating duplicates, and read profiles. "
                "Every call needs `Authorization: Bearer <token>` (tokens come from "
                "`manage.py create_api_token NAME`)."
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
                            "schema": {"type": "string", "maxLength": 255},
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
            "/api/v1/profiles/lookup": {
                "get": {
                    "summary": "The active profile holding an identifier value (normalised first)",
                    "operationId": "lookupProfile",
                    "parameters": [
                        {"name": "type", "in": "query", "required": True,
                         "schema": {"type": "string"}, "example": "email"},
                        {"name": "value", "in": "query", "required": True,
                         "schema": {"type": "string"}, "example": " Jane@Example.com"},
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
                         "schema": {"type": "integer"}},
                    ],
                    "responses": {
                        "200": _json("Profile", "The profile"),
                        "308": {
                            "description": "Merged: Location names the surviving profile",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        "401": ERROR, "404": ERROR,
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
                         "schema": {"type": "integer"},
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
                }
            },
            "schemas": {
                "Write": {
                    "type": "object",
                    "required": ["record", "matchKey"],
                    "properties": {
                        "record": {
                            "type": "object",
                            "description": (
                                "Keys that are identifier-type keys are identifiers (a list for "
                                "types that are not single-valued); other keys are attributes "
                                "(letters, digits, underscore, at most 64 characters). Values "
                                "are at most 1,000 characters; an attribute set to null is "
                                "cleared."
                            ),
                            "additionalProperties": True,
                            "example": {"email": "Jane@Example.com ", "first_name": "Jane"},
                        },
                        "matchKey": {
                            "type": "string",
                            "description": "A unique identifier type the record holds",
                            "example": "email",
                        },
                        "observedAt": {
                            "type": "string", "format": "date-time",
                            "description": "When the data was observed (default: now)",
                        },
                        "accessContacts": {
                            "type": "array", "items": {"type": "string"},
                            "description": "Identifier keys of the record that grant access",
                        },
                        "source": {
                            "type": "string", "maxLength": 100,
                            "description": "Source channel (default: the token's name)",
                        },
                    },
                },
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
                        "heldBy": {"type": "integer", "nullable": True},
                        "candidateId": {"type": "integer", "nullable": True},
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
                        "next": {"type": "string", "nullable": True},
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
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string", "nullable": True},
                            },
                        }
                    },
                },
            },
        },
    }
