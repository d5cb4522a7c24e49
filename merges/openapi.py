"""The merge rows of the OpenAPI document (SPEC 10); the API's openapi view adds them."""

ERROR = {"$ref": "#/components/responses/Error"}
ID = {"type": "integer", "minimum": 1}


def _json(schema, description):
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


FEED_PARAMETERS = [
    {"name": "after", "in": "query", "required": False,
     "schema": {"type": "string", "pattern": "^[0-9]{1,18}$", "default": "0"},
     "description": "The `next` of the page before; store it and miss nothing"},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
]

PATHS = {
    "/api/v1/merges": {
        "post": {
            "summary": "Request a merge job (run by a worker); the token's user needs the "
                       "permission to merge, and to override for a blocked group",
            "operationId": "requestMerge",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/MergeRequest"}}}},
            "responses": {
                "202": _json("MergeAccepted", "Queued: poll the job or follow the feed"),
                "400": ERROR, "401": ERROR,
                "403": _json("MergeRefused", "Blocked (the reasons are named) or not allowed"),
                "404": ERROR,
                "409": _json("MergeRefused", "A profile is already merged or in another merge"),
                "422": ERROR,
            },
        },
        "get": {
            "summary": "The merge feed: succeeded merges in commit order, from a cursor",
            "operationId": "mergeFeed",
            "parameters": FEED_PARAMETERS,
            "responses": {"200": _json("MergeFeed", "A page of the feed"),
                          "400": ERROR, "401": ERROR},
        },
    },
    "/api/v1/erasures": {
        "get": {
            "summary": "The erasure feed: people whose data was erased (erase_person), in commit "
                       "order, from a cursor; ids only, for downstream systems to erase theirs",
            "operationId": "erasureFeed",
            "parameters": FEED_PARAMETERS,
            "responses": {"200": _json("ErasureFeed", "A page of the feed"),
                          "400": ERROR, "401": ERROR},
        },
    },
    "/api/v1/merges/{merge_id}": {
        "get": {
            "summary": "A merge job and its status",
            "operationId": "getMerge",
            "parameters": [{"name": "merge_id", "in": "path", "required": True, "schema": ID}],
            "responses": {"200": _json("MergeJob", "The job"), "401": ERROR,
                          "404": {"$ref": "#/components/responses/NotFoundOrErased"}},
        },
    },
}

SCHEMAS = {
    "MergeRequest": {
        "type": "object", "required": ["profileIds"], "additionalProperties": False,
        "properties": {
            "profileIds": {"type": "array", "items": ID, "minItems": 2},
            "survivorId": ID,
            "fieldChoices": {"type": "object", "additionalProperties": ID,
                             "description": "attribute name -> the profile whose value is kept"},
            "acknowledgements": {"type": "array", "items": {
                "type": "object", "required": ["code", "justification"],
                "properties": {"code": {"type": "string"},
                               "justification": {"type": "string", "minLength": 1}},
            }},
            "candidateId": ID,
        },
    },
    "MergeAccepted": {
        "type": "object",
        "properties": {"mergeId": ID, "status": {"type": "string", "enum": ["queued"]},
                       "survivorId": ID},
    },
    "MergeRefused": {
        "type": "object",
        "properties": {
            "error": {"$ref": "#/components/schemas/Error"},
            "reasons": {"type": "array", "items": {"type": "object", "properties": {
                "code": {"type": "string"}, "title": {"type": "string"}}}},
        },
    },
    "MergeJob": {
        "type": "object",
        "properties": {
            "mergeId": ID,
            "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]},
            "survivorId": ID, "mergedIds": {"type": "array", "items": ID},
            "error": {"type": ["string", "null"]},
            "createdAt": {"type": "string", "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "ErasureFeed": {
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "erasureId": ID, "profileIds": {"type": "array", "items": ID},
                "mergeIds": {"type": "array", "items": ID},
                "erasedAt": {"type": "string", "format": "date-time"}}}},
            "next": {"type": "string"},
        },
    },
    "MergeFeed": {
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "mergeId": ID, "survivorId": ID, "mergedIds": {"type": "array", "items": ID},
                "finishedAt": {"type": "string", "format": "date-time"}}}},
            "next": {"type": "string"},
        },
    },
}
