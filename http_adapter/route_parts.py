"""What many operations of the route table share: the errors of sign-in and of bodies, and
the headers they name."""

from __future__ import annotations

from http_adapter.operations import Error, Header

AUTH_ERRORS = (
    Error(401, "Missing, malformed, expired or otherwise invalid bearer token."),
    Error(403, "The token belongs to another user than the path's {user_id}."),
    Error(431, "The Authorization header is larger than 8 KiB."),
    Error(503, "The database, or the sign-in service's keys, are unavailable."),
)
BODY_ERRORS = (
    Error(400, "The body is not valid JSON."),
    Error(413, "The body is larger than 64 KiB."),
    Error(415, "The body is not JSON."),
    Error(422, "The body does not satisfy the schema."),
)
RETRY_AFTER = Header("Retry-After", "Seconds", int)
TASK_NOT_FOUND = Error(404, "No such task for this user.")
PRECONDITION_FAILED = Error(412, "If-Match no longer matches the task; nothing changed.")
CONVERSATION_NOT_FOUND = Error(404, "No such conversation for this user.")
