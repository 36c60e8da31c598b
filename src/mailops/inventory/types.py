"""The value formats of the inventory: one annotated type per kind of value.

Each type is a pydantic v2 validator that either returns the canonical value or
raises a :class:`~pydantic_core.PydanticCustomError` whose ``expected`` says what
was expected (and, as ``todo``, what to do). :mod:`.errors` turns those into the
"<key>: found …; expected … — todo" lines every command prints. A type marked
secret never has its input shown: an operator may have pasted a password or a
TSIG secret into the wrong key.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainValidator
from pydantic_core import PydanticCustomError

# Error type of a value whose input must never be shown (see errors.py).
SECRET = "mailops_secret"
PLAIN = "mailops"


def fail(expected: str, todo: str = "", *, found: str = "",
         secret: bool = False) -> PydanticCustomError:
    """``found``: what to call the value ("domain name"), or for a secret what it is not."""
    # The text goes through ctx, not the template: "{ARGON2ID}" must not be a placeholder.
    return PydanticCustomError(SECRET if secret else PLAIN, "{expected}",
                               {"expected": expected, "todo": todo, "found": found})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- names

# RFC 1035 §2.3.1 / RFC 1123 §2.1: letters, digits, hyphens; labels 1-63, name <= 253.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Names that are not host names (SPF include targets like _spf.google.com, RFC 7208
# §7.1; DNS zones) may carry underscore labels (RFC 2181 §11).
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# RFC 5321 §4.1.2 dot-atom local part (quoted local parts are not accepted in config).
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
# Dovecot password schemes (doveadm pw -l) or a bare crypt(3) / PHC string.
_HASH = re.compile(
    r"^(\{(ARGON2ID|ARGON2I|BLF-CRYPT|SHA512-CRYPT|SHA256-CRYPT|CRYPT|SSHA512|SSHA256|PBKDF2)\}.+"
    r"|\$(argon2id|argon2i|2[abxy]|6|5)\$.+)$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name_ok(value: Any, label: re.Pattern) -> bool:
    if not isinstance(value, str) or not value or len(value) > 253 or value != value.lower():
        return False
    labels = value.rstrip(".").split(".")
    return len(labels) >= 2 and all(label.match(part) for part in labels)


def is_domain(value: Any) -> bool:
    """A lower-case host/domain name with at least two labels (RFC 1123 §2.1)."""
    return _name_ok(value, _LABEL)


def is_dns_name(value: Any) -> bool:
    """Like :func:`is_domain`, but labels may start with "_" (RFC 2181 §11)."""
    return _name_ok(value, _DNS_LABEL)


def is_local_part(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 64 and bool(_LOCAL.match(value))


def is_address(value: Any) -> bool:
    if not isinstance(value, str) or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    return is_local_part(local) and is_domain(domain.lower())


def is_password_hash(value: Any) -> bool:
    return isinstance(value, str) and bool(_HASH.match(value))


def _domain(value: Any) -> str:
    if not is_domain(value):
        raise fail("a lower-case domain name such as 'example.com'", found="domain name")
    return value.rstrip(".")


def _dns_name(value: Any) -> str:
    if not is_dns_name(value):
        raise fail("a lower-case DNS name such as '_spf.example.com'")
    return value.rstrip(".")


def _local_part(value: Any) -> str:
    if not is_local_part(value):
        raise fail("the part before the @ of an address (RFC 5321 dot-atom) such as 'alice'",
                   found="local part")
    return value


def _address(value: Any) -> str:
    if not is_address(value):
        raise fail("an e-mail address such as 'alice@example.com'")
    return value


def _password_hash(value: Any) -> str:
    todo = "make one with `mailops hash-password` or `doveadm pw -s ARGON2ID`"
    if not is_password_hash(value):
        raise fail("a hash such as '{ARGON2ID}$argon2id$...' or '$6$...'", todo,
                   found="a value that is not a password hash", secret=True)
    if any(c in value for c in ":\n\r\t "):
        # ':' separates the fields of Dovecot's passwd-file (passwd-file(5)).
        raise fail("a single-line hash without ':' or spaces", todo,
                   found="a password hash containing ':' or whitespace", secret=True)
    return value


def _env_name(value: Any) -> str:
    """The NAME of an environment variable holding a secret — never the secret itself."""
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise fail("the name of the variable holding the credential, e.g. 'MAILOPS_TSIG'",
                   "put the secret in that environment variable, not in the inventory",
                   found="a value that is not an environment variable name", secret=True)
    return value


def _flag(value: Any) -> bool:
    # Only True/False: "no" or 0 in a Python inventory is more likely a slip than a wish.
    if not isinstance(value, bool):
        raise fail("True or False")
    return value


def _or_nothing(check):
    """The same check, but "" (or None) means "not set" and is kept as ""."""
    def maybe(value: Any) -> str:
        return "" if value in ("", None) else check(value)
    return maybe


Flag = Annotated[bool, PlainValidator(_flag)]
DomainName = Annotated[str, PlainValidator(_domain)]
OptionalDomainName = Annotated[str, PlainValidator(_or_nothing(_domain))]
OptionalAddress = Annotated[str, PlainValidator(_or_nothing(_address))]
OptionalDnsName = Annotated[str, PlainValidator(_or_nothing(_dns_name))]
DnsName = Annotated[str, PlainValidator(_dns_name)]
LocalPart = Annotated[str, PlainValidator(_local_part)]
Address = Annotated[str, PlainValidator(_address)]
PasswordHash = Annotated[str, PlainValidator(_password_hash)]
EnvName = Annotated[str, PlainValidator(_env_name)]


# --------------------------------------------------------------------------- quantities

_SIZE = re.compile(r"^(\d+)\s*([KMGT]?)B?$", re.IGNORECASE)
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _size(value: Any) -> int | None:
    """Bytes: a positive whole number or '50M', '2G' (powers of 1024); None = no limit."""
    if value is None:
        return None
    if _is_int(value) and value > 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise fail("a size such as 52428800, '50M' or '2G'")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def _duration(value: Any) -> int:
    """Seconds: a whole number or '5d', '12h', '1w'."""
    if _is_int(value) and value >= 0:
        return value
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        raise fail("a duration in seconds or like '5d', '12h', '1w'")
    return int(m.group(1)) * _DURATION_UNITS[m.group(2)]


def Whole(low: int, high: int) -> Any:  # noqa: N802 - reads as a type in annotations
    """A whole number from low to high (a bool is not a number here)."""
    def check(value: Any) -> int:
        if not _is_int(value) or not low <= value <= high:
            raise fail(f"a whole number from {low} to {high}")
        return value
    return Annotated[int, PlainValidator(check)]


Size = Annotated[int, PlainValidator(_size)]
OptionalSize = Annotated[int | None, PlainValidator(_size)]
Duration = Annotated[int, PlainValidator(_duration)]


# --------------------------------------------------------------------------- addresses


def _ip(version: int | None):
    def check(value: Any) -> str:
        try:
            ip = ipaddress.ip_address(value)
            if version and ip.version != version:
                raise ValueError
        except ValueError:
            raise fail(f"an IPv{version} address" if version else "an IP address") from None
        return str(ip)
    return check


def _network(version: int):
    def check(value: Any) -> str:
        try:
            net = ipaddress.ip_network(value, strict=False)
            if net.version != version:
                raise ValueError
        except (ValueError, TypeError):
            raise fail(f"an IPv{version} address or network") from None
        return str(net) if net.num_addresses > 1 else str(net.network_address)
    return check


def _mynetwork(value: Any) -> str:
    """A Postfix mynetworks entry: IPv4 or [IPv6] network. Hosts in it may relay."""
    try:
        ipaddress.ip_network(str(value).replace("[", "").replace("]", ""), strict=False)
    except ValueError:
        raise fail("a network such as '127.0.0.0/8' or '[::1]/128' (hosts here may relay)") \
            from None
    return str(value)


IPv4 = Annotated[str, PlainValidator(_ip(4))]
IPv6 = Annotated[str, PlainValidator(_ip(6))]
IP = Annotated[str, PlainValidator(_ip(None))]
Net4 = Annotated[str, PlainValidator(_network(4))]
Net6 = Annotated[str, PlainValidator(_network(6))]
MyNetwork = Annotated[str, PlainValidator(_mynetwork)]


# --------------------------------------------------------------------------- containers


def _one_or_many(value: Any) -> Any:
    """A single string where a list is expected means a list of one."""
    return [value] if isinstance(value, str) else value


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


List = BeforeValidator(_one_or_many)  # use as Annotated[tuple[X, ...], List]
Mapping = BeforeValidator(_none_is_empty)  # use as Annotated[dict[K, V], Mapping]
