"""MIME helpers shared by the bounce parser: decoded text, report parts.

Standard library only.  Every function here tolerates broken input (bad
charsets, bad base64, missing boundaries): it degrades to "less text", never
raises, because the hook must never crash on what strangers send us.
"""


import functools
import re

from .lazyre import lazy
from .message import Message, decode_transfer

# Parts that carry (a copy of) the original message: never scanned for failed
# recipients.  RFC 3462/6522 (text/rfc822-headers), RFC 6533 §6 (the
# message/global* forms).
ORIGINAL_TYPES = frozenset({
    "message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers",
    "text/rfc822-header",  # sic: some feedback-loop senders drop the "s"
    "message/global-headers", "message/partial", "message/external-body",
})
DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
FEEDBACK_TYPES = frozenset({"message/feedback-report"})
MDN_TYPES = frozenset({"message/disposition-notification",
                       "message/global-disposition-notification"})

_TAG_RE = lazy(r"<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>|</li\s*>", re.I)
_STRIP_RE = lazy(r"<(?:style|script)\b.*?</(?:style|script)\s*>|<[^>]*>", re.I | re.S)


def header(msg: Message, name: str) -> str:
    """A header as readable text (RFC 2047 words decoded), '' when absent or broken."""
    value = msg.get(name)
    if value is None:
        return ""
    value = str(value)
    if "=?" in value:
        value = decode_words(value)
    return value.replace("\r", "").replace("\n", " ").strip()


_WORD_RE = lazy(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS_RE = lazy(r"(\?=)\s+(=\?)")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words ("=?UTF-8?B?...?=") decoded; the white space
    between two adjacent encoded words is not part of the text (§6.2)."""
    import binascii

    def word(m: re.Match) -> str:
        charset = m.group(1).split("*", 1)[0]  # RFC 2231 §5 language suffix
        data = m.group(3).encode("ascii", "replace")
        try:
            if m.group(2) in "bB":
                data += b"=" * (-len(data) % 4)
                raw = binascii.a2b_base64(data)
            else:
                raw = binascii.a2b_qp(data, header=True)
        except (binascii.Error, ValueError):
            return m.group(0)
        return _decode_bytes(raw, charset)

    return _WORD_RE.sub(word, _BETWEEN_WORDS_RE.sub(r"\1\2", value))


# Charset labels seen on real bounces that Python's codec registry does not
# know, or knows as a narrower code page than the mailers actually wrote
# (the WHATWG Encoding Standard maps the same labels to the same supersets).
_CHARSET_ALIASES = {
    "x-sjis": "cp932", "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932",
    "windows-31j": "cp932", "x-euc-jp": "euc_jp", "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949", "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "iso-8859-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252", "uft-8": "utf-8",
    "utf8": "utf-8", "iso-2022-jp": "iso2022_jp_ext", "x-unknown": "",
}
# Multi-byte encodings of the same script that mailers write under each other's label
# (Japanese carriers send EUC-JP or Shift_JIS text labelled ISO-2022-JP): tried, strictly,
# after the label and UTF-8 fail and before the Western fallback would turn the text into
# mojibake no rule can read.
_SIBLINGS = {"iso2022_jp_ext": ("euc_jp", "cp932"), "euc_jp": ("cp932",), "cp932": ("euc_jp",)}
# ISO-2022-JP (RFC 1468) announces itself with escape sequences, so text that
# declares no charset (or a wrong one) can still be recognised.
_ISO2022JP_RE = lazy(rb"\x1b(?:\$[@B(]|\([BJI])")


def _decode_bytes(raw: bytes, charset: str | None) -> str:
    """Decode with the declared charset, its real-world superset, UTF-8, or
    ISO-2022-JP when its escapes show; never raises (cp1252, then latin-1)."""
    label = (charset or "").strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    tries = [label, "utf-8", *_SIBLINGS.get(label, ())]
    if b"\x1b" in raw and _ISO2022JP_RE.search(raw):
        tries.insert(0, "iso2022_jp_ext")
    for cs in tries:
        if not cs:
            continue
        try:
            return raw.decode(cs)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_CTYPE_RE = lazy(r"[a-z0-9][\w.+-]*/[\w.+-]+")


def content_type(part: Message) -> str:
    """type/subtype, lowercase.  A header that lost its ";" before the
    parameters ("text/plain  charset=...") still names its type first."""
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        return "text/plain"
    m = _CTYPE_RE.match(ctype)
    return m.group(0) if m else "text/plain"


def part_text(part: Message) -> str:
    """The decoded text of a leaf text part; HTML is flattened to text."""
    try:
        raw = part.get_payload(decode=True)
    except Exception:
        raw = None
    if raw is None:
        payload = part.get_payload()
        if isinstance(payload, str):
            raw = payload.encode("ascii", "surrogateescape")
        else:
            return ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text = _decode_bytes(raw, charset)
    if content_type(part) == "text/html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def html_to_text(text: str) -> str:
    import html  # only HTML-only bounces need its entity table

    text = _TAG_RE.sub("\n", text)
    text = _STRIP_RE.sub("", text)
    return html.unescape(text).replace("\xa0", " ")


def report_part_text(part: Message) -> str:
    """The text of a message/* report part (delivery-status, feedback-report).

    Python's parser splits message/delivery-status into blocks of headers and
    parses other message/* types as an embedded message, so rebuild the field
    text from what it made.  RFC 6533 §6 allows message/global-delivery-status
    to be base64 or quoted-printable encoded, and to carry raw UTF-8.
    """
    try:
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks = []
            for block in payload:
                if not isinstance(block, Message):
                    continue
                # raw_items() and get_payload(decode=True) keep 8-bit bytes;
                # items()/get_payload() would turn raw UTF-8 into U+FFFD.
                lines = [f"{k}: {v}".encode("utf-8", "surrogateescape")
                         for k, v in block.raw_items()]
                body = block.get_payload(decode=True)
                if isinstance(body, bytes) and body.strip():
                    lines.append(b"")
                    lines.append(body)
                blocks.append(b"\n".join(lines))
            raw = b"\n\n".join(blocks)
        elif isinstance(payload, str):
            raw = payload.encode("utf-8", "surrogateescape")
        else:
            return ""
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        raw = decode_transfer(raw, cte)
        return _decode_bytes(raw, "utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except Exception:
        return ""


def walk_report(msg: Message):
    """Yield (content_type, part) for the parts of a report, depth first,
    without descending into the returned original message."""
    stack = [msg]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > 500:  # a MIME bomb is not a bounce
            return
        ctype = content_type(part)
        yield ctype, part
        if ctype in ORIGINAL_TYPES or ctype in DSN_TYPES or ctype in FEEDBACK_TYPES \
                or ctype in MDN_TYPES:
            continue
        if part.is_multipart():
            try:
                children = part.get_payload()
            except Exception:
                continue
            if isinstance(children, list):
                stack.extend(reversed([c for c in children if isinstance(c, Message)]))


def parse_fields(text: str) -> list[list[tuple[str, str]]]:
    """Split RFC 3464 §2.1 field text into blocks of (lowercase name, value).

    Blocks are separated by blank lines (a whitespace-only line counts as
    blank: some MTAs emit " " between groups); continuation lines are unfolded.
    """
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[0] in " \t" and current:
            name, value = current[-1]
            current[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip() and len(name) < 60:
            current.append((name.strip().lower(), value.strip()))
    if current:
        blocks.append(current)
    return blocks


_ANGLE_ADDR_RE = lazy(r"<([^<>\s@]+@[^<>\s]+)>")
_BARE_ADDR_RE = lazy(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_QUOTED_RE = lazy(r'"(?:\\.|[^"\\])*"|\((?:\\.|[^()\\])*\)')


def addresses(msg: Message, *names: str) -> set[str]:
    """Lowercase addresses in the named headers of ``msg`` (RFC 5322 §3.4:
    "Name <addr>" or a bare addr-spec; display names and comments ignored)."""
    found: set[str] = set()
    for name in names:
        for value in msg.get_all(name) or []:
            value = str(value)
            for item in _QUOTED_RE.sub(" ", value).split(","):
                angle = _ANGLE_ADDR_RE.findall(item)
                found.update(a.lower() for a in angle or _BARE_ADDR_RE.findall(item))
    return found


_MSGID_RE = lazy(r"<[^<>\s]{3,250}>")


def first_msgid(text: str) -> str | None:
    """The first <message-id> in a header value (RFC 5322 §3.6.4)."""
    m = _MSGID_RE.search(text or "")
    return m.group(0) if m else None


# The line that introduces the copy of the original message.  A dashed rule
# with these words, or one of the fixed sentences MTAs print before it.
_CUT_RE = lazy(
    r"^[ \t]*(?:[-=*_|>#]{2,}[^\n]*?\b(?:original|returned|unsent|copy of|header of|message header|"
    r"message text|headers? follow|forwarded message|attach\w*|source mail|end of message|"
    r"mensaje original|original-nachricht)"
    r"|(?:original message (?:follows|as received|details|headers)|a copy of the original message"
    r"|included is a copy|message headers follow|your message reads"
    r"|the first \d+ lines of your original"
    r"|below (?:this|the next) line is a copy|original message follows"
    r"|the original message headers?))",
    re.I | re.M,
)


# What every match of _CUT_RE contains (lowercase): a dashed rule AND one of its words,
# or one of its fixed sentences. A text without them has no cut, and the long pattern
# is neither compiled nor run for it (most bounce hook runs).
_CUT_RULE = str.maketrans(dict.fromkeys("-=*_|>#", "\0"))  # [-=*_|>#]{2,} -> "\0\0"
_CUT_WORDS = ("original", "returned", "unsent", "copy of", "header", "message text",
              "forwarded message", "attach", "source mail", "end of message")
_CUT_SENTENCES = ("original message", "included is a copy", "message headers follow",
                  "your message reads", "lines of your original", "line is a copy")


def _may_cut(text: str) -> bool:
    lower = text.lower()
    if any(s in lower for s in _CUT_SENTENCES):
        return True
    return any(w in lower for w in _CUT_WORDS) and "\0\0" in text.translate(_CUT_RULE)


@functools.lru_cache(maxsize=16)  # the dispatcher, the DSN and the legacy parser all ask
def report_text_only(text: str) -> str:
    """The report text up to where the copy of the original message starts."""
    m = _CUT_RE.search(text) if _may_cut(text) else None
    return text[: m.start()] if m else text
