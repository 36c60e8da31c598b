"""What the parser returns: a :class:`Report` per message, a :class:`Bounce` per recipient.

Standard library only (the bounce hook imports it on the mail host).
"""


KINDS = ("dsn", "legacy", "arf", "autoreply", "not-bounce")

_BOUNCE_FIELDS = ("recipient", "action", "status", "replycode", "reason", "hard", "permanent",
                  "diagnostic", "reporting_mta", "message_id")


class Bounce:
    """One recipient named by a report.

    ``action``: failed | delayed (RFC 3464 §2.3.3), or feedback | autoreply
    for the non-bounces; ``message_id``: the original message's Message-ID
    when the report carries it.  (A plain class, not a dataclass: importing
    dataclasses costs the hook several milliseconds per message.)
    """

    __slots__ = _BOUNCE_FIELDS

    def __init__(self, recipient: str, action: str, status: str | None, replycode: int | None,
                 reason: str, hard: bool, permanent: bool, diagnostic: str,
                 reporting_mta: str | None, message_id: str | None = None):
        self.recipient = recipient
        self.action = action
        self.status = status
        self.replycode = replycode
        self.reason = reason
        self.hard = hard
        self.permanent = permanent
        self.diagnostic = diagnostic
        self.reporting_mta = reporting_mta
        self.message_id = message_id

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in _BOUNCE_FIELDS}

    def __eq__(self, other) -> bool:
        return isinstance(other, Bounce) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Bounce({self.to_dict()!r})"


class Report:
    """What one message is (``kind``, one of KINDS) and the recipients it names."""

    __slots__ = ("kind", "bounces", "message_id", "feedback_type", "subject")

    def __init__(self, kind: str, bounces: list[Bounce] | None = None,
                 message_id: str | None = None, feedback_type: str | None = None,
                 subject: str = ""):
        self.kind = kind
        self.bounces = list(bounces or [])
        self.message_id = message_id  # the original message's Message-ID
        self.feedback_type = feedback_type  # ARF Feedback-Type (RFC 5965 §3.1)
        self.subject = subject

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "message_id": self.message_id,
            "feedback_type": self.feedback_type,
            "bounces": [b.to_dict() for b in self.bounces],
        }

    def __repr__(self) -> str:
        return f"Report({self.to_dict()!r})"
