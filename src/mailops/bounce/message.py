"""A small, lenient MIME reader: headers, parts, payloads (RFC 5322, RFC 2045/2046).

Standard library only, and deliberately not the ``email`` package: importing
it costs the bounce hook more than the interpreter's own start (it pulls in
socket, urllib, datetime, random ...), and the hook runs once per bounce.  A
bounce parser needs far less than ``email`` offers: header fields, the
content type and its parameters, the multipart tree, the returned message,
and decoded payloads.  This module gives exactly that, with the method names
of ``email.message.Message`` the rest of the package uses, and tolerates what
real bounces contain: bare LF line ends, a boundary parameter that the body
does not use (RFC 2046 §5.1.1 says they must agree; some MTAs disagree),
missing close delimiters, broken transfer encodings.
"""


import re

MAX_DEPTH = 8  # nested multiparts and returned messages
MAX_PARTS = 500  # a MIME bomb is not a bounce

# RFC 5322 §3.6.8 field names: printable US-ASCII except ":" (deleted by translate).
_FIELD_NAME = bytes(range(33, 127)).replace(b":", b"")
_PARAM_RE = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:\\.|[^"\\])*"?|[^;]*)')
_DELIMITER_RE = re.compile(rb"^--([\x21-\x7e]{1,70}?)(--)?[ \t]*\r?$", re.M)


_RETURNED: list = []  # marker: a returned message not parsed yet


def from_bytes(data: bytes) -> "Message":
    """Parse one message (bytes, CRLF or LF line ends)."""
    return Message(bytes(data))


class Message:
    """One message or body part."""

    __slots__ = ("_headers", "_body", "_raw", "_ctype", "_params", "_payload", "_depth",
                 "_budget")

    def __init__(self, raw: bytes, depth: int = 0, budget: list[int] | None = None):
        self._raw = raw
        self._depth = depth
        self._budget = budget if budget is not None else [MAX_PARTS]
        self._headers, self._body = _split_head(raw)
        self._ctype, self._params = _content_type(self.get("content-type"))
        self._payload: list[Message] | None = None
        if depth < MAX_DEPTH:
            if self._ctype.startswith("multipart/"):
                self._payload = self._parts() or None
            elif self._ctype in ("message/rfc822", "message/global") and self._body.strip():
                # The returned message: parsed when asked for (it is rarely
                # needed, and its headers are most of a bounce's bytes).
                self._payload = _RETURNED

    # -- headers ------------------------------------------------------------

    def get(self, name: str, default=None):
        name = name.lower()
        for key, value in self._headers:
            if key.lower() == name:
                return value
        return default

    def get_all(self, name: str, default=None):
        name = name.lower()
        found = [value for key, value in self._headers if key.lower() == name]
        return found or default

    def raw_items(self):
        return list(self._headers)

    items = raw_items

    # -- content type -------------------------------------------------------

    def get_content_type(self) -> str:
        return self._ctype

    def get_param(self, name: str, default=None):
        return self._params.get(name.lower(), default)

    def get_content_charset(self, default=None):
        charset = self._params.get("charset")
        return charset.lower() if charset else default

    def get_boundary(self, default=None):
        return self._params.get("boundary", default)

    # -- payload ------------------------------------------------------------

    def is_multipart(self) -> bool:
        return self._payload is not None

    def get_payload(self, decode: bool = False):
        """The list of parts (multipart, message/rfc822); else the body as text,
        or with ``decode`` as bytes with its transfer encoding undone."""
        if self._payload is _RETURNED:
            self._budget[0] -= 1
            self._payload = [Message(self._body, self._depth + 1, self._budget)] \
                if self._budget[0] > 0 else []
        if self._payload is not None and not decode:
            return self._payload
        if not decode:
            return self._body.decode("utf-8", "surrogateescape")
        if self._payload is not None:
            return None
        cte = (self.get("content-transfer-encoding") or "").strip().lower()
        return decode_transfer(self._body, cte)

    def as_bytes(self) -> bytes:
        return self._raw

    def _parts(self) -> "list[Message]":
        body = self._body
        boundary = self._params.get("boundary")
        delimiters = _delimiters(body, boundary)
        if not delimiters:
            return []
        parts = []
        for (start, _at, close), (_n, nxt, _c) in zip(delimiters, delimiters[1:] +
                                                       [(len(body), len(body), True)],
                                                       strict=True):
            if close:
                break
            # Up to where the next delimiter line starts (RFC 2046 §5.1.1).
            chunk = body[start:nxt]
            # The line break before a delimiter belongs to the delimiter.
            if chunk.endswith(b"\r\n"):
                chunk = chunk[:-2]
            elif chunk.endswith(b"\n"):
                chunk = chunk[:-1]
            self._budget[0] -= 1
            if self._budget[0] <= 0:
                break
            parts.append(Message(chunk, self._depth + 1, self._budget))
        return parts


def _delimiters(body: bytes, boundary: str | None) -> list[tuple[int, int, bool]]:
    """(start of the part after it, start of the line, is-close) for each delimiter line.

    The declared boundary if the body uses it; else the one the body really
    uses (the delimiter line that recurs), as mail readers do.
    """
    found: dict[bytes, list[tuple[int, int, bool]]] = {}
    for m in _DELIMITER_RE.finditer(body):
        token = m.group(1)
        after = m.end() + (1 if body[m.end():m.end() + 1] == b"\n" else 0)
        found.setdefault(token, []).append((after, m.start(), bool(m.group(2))))
    if boundary is not None:
        declared = boundary.encode("utf-8", "surrogateescape")
        if declared in found:
            return found[declared]
        # A boundary ending in "--" reads as a close delimiter of a shorter one.
        if declared.endswith(b"--") and declared[:-2] in found:
            return found[declared[:-2]]
    if not found:
        return []
    token = max(found, key=lambda t: len(found[t]))
    return found[token] if len(found[token]) >= 2 else []


def _split_head(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Header fields (unfolded, RFC 5322 §2.2.3) and the body."""
    start = 0
    if raw.startswith(b"From "):  # an mbox "From " line before the header
        nl = raw.find(b"\n")
        start = len(raw) if nl < 0 else nl + 1
    end, body_at = _blank_line(raw, start)
    if raw[start:start + 1] in (b"\n", b"\r"):  # no header at all
        end = body_at = start + (2 if raw[start:start + 2] == b"\r\n" else 1)
        return [], raw[body_at:]
    # Fast path: split the block into fields at line breaks that do not start
    # a continuation line; when every field is "name: value", that is all.
    fields = _fields(raw[start:end].rstrip(b"\r"))
    if all(_is_field(f) for f in fields):
        headers = []
        for field in fields:
            key, _, rest = field.partition(b":")
            headers.append((key.strip().decode("ascii", "replace"),
                            _text(rest.replace(b"\r\n", b"").replace(b"\n", b""))))
        return headers, raw[body_at:]
    headers = []
    name = None
    value: list[bytes] = []
    offset = start
    for line in raw[start:end].split(b"\n"):
        size = len(line) + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if line[:1] in (b" ", b"\t") and name is not None:
            value.append(line)
        elif _is_field(line):
            if name is not None:
                headers.append((name, _text(b"".join(value))))
            key, _, rest = line.partition(b":")
            name = key.strip().decode("ascii", "replace")
            value = [rest.lstrip()]
        else:
            body_at = offset  # not a header line: the body starts here (no blank line)
            break
        offset += size
    if name is not None:
        headers.append((name, _text(b"".join(value))))
    return headers, raw[body_at:]


# Header parsing in plain bytes operations: the hook parses one message per process, and
# compiling patterns for these cost it more than the loops below.

def _blank_line(raw: bytes, start: int) -> tuple[int, int]:
    """Where the first empty line ("\\n\\n" or "\\n\\r\\n") from ``start`` begins and
    ends: the header ends there and the body starts after it (len(raw) twice if none)."""
    lf, crlf = raw.find(b"\n\n", start), raw.find(b"\n\r\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 3
    return len(raw), len(raw)


def _fields(block: bytes) -> list[bytes]:
    """The header block cut into fields at line breaks that do not begin a continuation
    line (RFC 5322 §2.2.3); a fold stays inside its field, a field's own CR is dropped."""
    fields: list[bytes] = []
    for line in block.split(b"\n"):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += b"\n" + line
            continue
        if fields and fields[-1].endswith(b"\r"):
            fields[-1] = fields[-1][:-1]
        fields.append(line)
    return fields


def _media_type(text: str) -> str | None:
    """The ``type/subtype`` that ``text`` (lowercase) starts with: a letter or digit,
    then word characters, ".", "+" or "-" on both sides of the "/" (RFC 2045 §5.1)."""
    def run(i: int) -> int:
        while i < len(text) and (text[i].isalnum() or text[i] in "_.+-"):
            i += 1
        return i

    if not text or text[0] not in "abcdefghijklmnopqrstuvwxyz0123456789":
        return None
    slash = run(1)
    if text[slash:slash + 1] != "/":
        return None
    end = run(slash + 1)
    return text[:end] if end > slash + 1 else None


def _is_field(line: bytes) -> bool:
    """``line`` starts with a field name and its colon ("Name:", "Name :")."""
    name, colon, _ = line.partition(b":")
    name = name.rstrip(b" \t")
    return bool(colon and name) and not name.translate(None, _FIELD_NAME)


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError:
        return value.decode("latin-1").strip()


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """RFC 2045 §5.1: type/subtype (default text/plain) and its parameters."""
    if not value:
        return "text/plain", {}
    main, _, rest = value.partition(";")
    ctype = main.strip().lower()
    # A header that lost its ";" before the parameters still names its type.
    ctype = _media_type(ctype) or "text/plain"
    params: dict[str, str] = {}
    for name, raw in _PARAM_RE.findall(";" + rest):
        raw = raw.strip()
        if raw.startswith('"'):
            raw = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
            raw = re.sub(r"\\(.)", r"\1", raw) if "\\" in raw else raw
        name = name.lower().rstrip("*")
        params.setdefault(name, raw)
    if "boundary" not in params and "boundary" in value.lower():
        m = re.search(r'boundary\s*=\s*"?([^";\s]+)', value, re.I)
        if m:
            params["boundary"] = m.group(1)
    return ctype, params


def decode_transfer(body: bytes, cte: str) -> bytes:
    """Undo a Content-Transfer-Encoding (RFC 2045 §6), leniently."""
    import binascii

    if cte == "base64":
        data = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
        if len(data) % 4 == 1:  # a stray character: drop it rather than everything
            data = data[:-1]
        data += b"=" * (-len(data) % 4)
        try:
            return binascii.a2b_base64(data)
        except (binascii.Error, ValueError):
            return body
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    return body
