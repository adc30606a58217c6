"""What the storage layer raises. Driver exceptions never get past the repositories."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage error."""


class StorageUnavailableError(StorageError):
    """The database could not be reached or failed to answer."""

    def __init__(self) -> None:
        super().__init__("the database is unavailable")


class TaskNotFoundError(StorageError):
    """No task with this id belongs to this user (it may belong to another)."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class VersionMismatchError(StorageError):
    """The caller's expected version is no longer the task's version."""

    def __init__(self, task_id: int, expected: int, actual: int) -> None:
        super().__init__(f"task {task_id} is at version {actual}, not {expected}")
        self.task_id = task_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReusedError(StorageError):
    """The idempotency key was already used for a create with other arguments."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was used with different arguments")
        self.key = key


class ConversationNotFoundError(StorageError):
    """No conversation with this id belongs to this user."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} not found")
        self.conversation_id = conversation_id


class ConversationBusyError(StorageError):
    """Another chat turn of this conversation is still running (in any process)."""

    def __init__(self, conversation_id: str, retry_after_s: int) -> None:
        super().__init__(f"conversation {conversation_id} is running a turn")
        self.conversation_id = conversation_id
        self.retry_after_s = retry_after_s


class QuotaExceededError(StorageError):
    """The user already has as many tasks as one user may have."""

    def __init__(self, quota: int) -> None:
        super().__init__(f"the task quota of {quota} is reached")
        self.quota = quota


class RateLimitedError(StorageError):
    """The user has used up their turns of this window."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class IdempotencyKeyInFlightError(StorageError):
    """A create with this idempotency key is still running (in this process or another)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"a create with idempotency key {key!r} is still in flight")
        self.key = key


class ListNotFoundError(StorageError):
    """No list with this id belongs to this user (it may belong to another)."""

    def __init__(self, list_id: int) -> None:
        super().__init__(f"list {list_id} not found")
        self.list_id = list_id


class UnknownListError(StorageError):
    """A task was to go into a list that is not one of the user's lists."""

    def __init__(self, list_id: int) -> None:
        super().__init__(f"list {list_id} is not one of the user's lists")
        self.list_id = list_id


class ListVersionMismatchError(StorageError):
    """The caller's expected version is no longer the list's version."""

    def __init__(self, list_id: int, expected: int, actual: int) -> None:
        super().__init__(f"list {list_id} is at version {actual}, not {expected}")
        self.list_id = list_id
        self.expected = expected
        self.actual = actual


class ListNameTakenError(StorageError):
    """The user already has a list of this name (ignoring case)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a list named {name!r} already exists")
        self.name = name


class ListLimitError(StorageError):
    """The user already has as many lists as one user may have."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the limit of {limit} lists is reached")
        self.limit = limit


class RecurrenceNeedsDueDateError(StorageError):
    """A change would leave a recurring task without a due date."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} is recurring and needs a due date")
        self.task_id = task_id
