"""The signing plan: which key each hosted domain signs with on a host. Computed once.

The deploy receives this plan as data (``deploy.py`` computes it, ``tasks/opendkim.py``
renders it) and never creates a key. A domain signs with:

- the key a rotation names for it in the pyinfra data ``mailops_dkim_sign_with``
  (``pyinfra … deploy.py --data mailops_dkim_sign_with=example.com=s202611b``),
  which must be the active key or a pending key every authoritative name server
  already serves (RFC 6376 §3.6.2: a verifier fetches the key by selector; a key
  signs only once it is published);
- otherwise its ACTIVE key;
- otherwise nothing: the domain is **unsigned**. A domain's first key goes through
  the same steps as every rotation — generate, publish, wait until every
  authoritative server serves it, deploy, probe, activate — started by
  ``mailops dkim rotate <domain>``. Until then the host does not sign for it and
  the deploy and ``mailops check`` say so.

Also here: the DKIM records the keystore says must be in DNS, handed to
``mailops.dns.records`` as data (the DNS layer never reads the keystore).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..inventory import MailSettings, is_domain
from .keystore import ACTIVE, PENDING, Key, Keystore, KeystoreError
from .selectors import is_selector

SIGN_WITH_DATA = "mailops_dkim_sign_with"  # pyinfra host data key (`--data key=value`)
START_COMMAND = "mailops dkim rotate {domain}"


class SigningPlanError(RuntimeError):
    """The keys asked for cannot be signed with; the message says why and what to do."""


# --------------------------------------------------------------------------- the override


def parse_sign_with(value: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"a.com=s202611b,b.org=s202610a"`` (or a mapping, or JSON of one) -> {domain: selector}.

    pyinfra's ``--data`` hands the value over as text, or already decoded when it is
    JSON; both are accepted. A clear error names the data key if anything is off.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        pairs = [(str(d), str(s)) for d, s in value.items()]
    elif isinstance(value, str):
        for item in (i.strip() for i in value.split(",")):
            if item:
                domain, sep, selector = item.partition("=")
                pairs.append((domain.strip(), selector.strip() if sep else ""))
    else:
        pairs = [("?", "?")]
    out: dict[str, str] = {}
    for domain, selector in pairs:
        if not is_domain(domain) or not is_selector(selector):
            raise SigningPlanError(
                f"{SIGN_WITH_DATA}: found {domain}={selector!r} in {value!r}; expected "
                "domain=selector pairs separated by commas, such as 'example.com=s202611b' "
                "(set by `mailops dkim rotate`; leave it out to sign with the active keys)"
            )
        if domain in out and out[domain] != selector:
            raise SigningPlanError(f"{SIGN_WITH_DATA}: found {domain} twice ({out[domain]}, "
                                   f"{selector}); expected one selector per domain")
        out[domain] = selector
    return out


def format_sign_with(selectors: Mapping[str, str]) -> str:
    return ",".join(f"{d}={s}" for d, s in sorted(selectors.items()))


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class SigningPlan:
    """What one host signs: domain -> key, and the hosted domains it does not sign yet."""

    hostname: str
    keys: Mapping[str, Key] = field(default_factory=dict)
    unsigned: tuple[str, ...] = ()
    keyless: tuple[str, ...] = ()  # unsigned domains the keystore has never had a key for
    signature_algorithm: str = "rsa-sha256"

    @property
    def selectors(self) -> dict[str, str]:
        return {d: k.selector for d, k in sorted(self.keys.items())}

    def notices(self, inventory: str = "") -> list[str]:
        """One line per unsigned domain, naming the command that starts signing it."""
        where = f" -i {inventory}" if inventory else ""
        return [
            f"{d}: not DKIM-signed on {self.hostname} — no key has been published and "
            f"probed for it yet. Start signing with `{START_COMMAND.format(domain=d)}{where}` "
            "(generates a key, publishes it, waits for DNS, deploys, probes, activates)."
            for d in self.unsigned
        ]


def signature_algorithm(hostname: str, keys: Mapping[str, Key], default: str = "rsa-sha256"
                        ) -> str:
    """OpenDKIM's one SignatureAlgorithm for the keys this host will actually sign with.

    Checked in the lab (Debian 12, opendkim 2.11.0~beta2-8+deb12u1): the
    ``SignatureAlgorithm`` setting, not the key, decides a signature's a= tag.
    An Ed25519 key under ``rsa-sha256`` makes OpenDKIM tempfail every message
    ("451 4.7.0 resource unavailable"); an RSA key under ``ed25519-sha256``
    yields a signature labelled a=ed25519-sha256 that no verifier accepts. So
    the algorithm follows the deployed keys (during a rotation to another
    algorithm the inventory already says the new one while the active key is
    still the old one), and keys of both families on one host are refused.
    ``default`` applies when the host signs nothing yet.
    """
    families = {d: ("ed25519" if k.algorithm == "ed25519" else "rsa") for d, k in keys.items()}
    if len(set(families.values())) > 1:
        mixed = ", ".join(f"{d}={keys[d].selector} ({keys[d].algorithm})"
                          for d in sorted(keys))
        raise SigningPlanError(
            f"host {hostname}: found DKIM keys {mixed}; expected all RSA or all "
            "Ed25519 — OpenDKIM 2.11 signs with one algorithm per instance "
            "(SignatureAlgorithm). Rotate every domain of this host to the same algorithm "
            "(dkim.algorithm) before deploying."
        )
    if not families:
        return default
    return "ed25519-sha256" if "ed25519" in families.values() else "rsa-sha256"


def _usable(keystore: Keystore, domain: str, k: Key, why: str) -> Key:
    if k.private_key_path is None or not k.private_key_path.is_file():
        raise SigningPlanError(
            f"{why}{domain} {k.selector}: its private key file is missing from the keystore "
            f"{keystore.path}; expected the keystore that made the key (point the "
            "inventory's `keystore` or $MAILOPS_KEYSTORE at it)")
    return k


def signing_plan(settings: MailSettings, keystore: Keystore | None = None,
                 override: str | Mapping[str, str] | None = None) -> SigningPlan:
    """The plan for one host, from the keystore (read only, never written) and the override.

    ``override`` is the value of the pyinfra data ``mailops_dkim_sign_with``.
    """
    ks = keystore or Keystore(settings.keystore, create=False)
    wanted = parse_sign_with(override)
    hosted = [d.name for d in settings.domains]
    unknown = sorted(set(wanted) - set(hosted))
    if unknown:
        raise SigningPlanError(
            f"{SIGN_WITH_DATA}: found {', '.join(unknown)}, which host {settings.hostname} does "
            f"not serve; expected some of {', '.join(sorted(hosted))} — limit the deploy to "
            "the hosts of that domain (--limit) or leave the data out"
        )
    keys: dict[str, Key] = {}
    unsigned: list[str] = []
    keyless: list[str] = []
    for d in settings.domains:
        if d.name not in wanted:
            history = ks.keys(d.name)
            active = [k for k in history if k.state == ACTIVE]
            if not active:
                unsigned.append(d.name)
                if not history:
                    keyless.append(d.name)
            else:

                keys[d.name] = _usable(ks, d.name, active[-1], "")
            continue
        try:
            k = ks.key(d.name, wanted[d.name])
        except KeystoreError as e:
            raise SigningPlanError(f"{SIGN_WITH_DATA}: {e}") from None
        if not (k.state == ACTIVE or (k.state == PENDING and k.done("visible"))):
            raise SigningPlanError(
                f"{SIGN_WITH_DATA}: {d.name} {k.selector} is {k.state}"
                + (" and not yet seen on every authoritative name server"
                   if k.state == PENDING else "")
                + "; expected the active key, or a pending key whose record every "
                "authoritative server already serves (a key signs only once it is published, "
                f"RFC 6376 §3.6.2) — run `{START_COMMAND.format(domain=d.name)}`"
            )
        keys[d.name] = _usable(ks, d.name, k, f"{SIGN_WITH_DATA}: ")
    default = ("ed25519-sha256" if any(d.dkim_algorithm == "ed25519" for d in settings.domains)
               else "rsa-sha256")
    return SigningPlan(settings.hostname, keys, tuple(unsigned), tuple(keyless),
                       signature_algorithm(settings.hostname, keys, default))


# --------------------------------------------------------------------------- for the DNS layer


def _keystores(hosts: Iterable[MailSettings]) -> Iterable[tuple[Keystore, list[str]]]:
    for s in hosts:
        yield Keystore(s.keystore, create=False), [d.name for d in s.domains]


def published_keys(hosts: Sequence[MailSettings]) -> dict[str, list[tuple[str, str]]]:
    """domain -> [(selector, TXT value)] of the keys the keystore says must be in DNS
    (pending ones before they sign, active ones, retiring ones during their grace)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for ks, domains in _keystores(hosts):
        for d in domains:
            for k in ks.published(d):
                pair = (k.selector, k.txt_value)
                if pair not in out.setdefault(d, []):
                    out[d].append(pair)
    return out


def known_selectors(hosts: Sequence[MailSettings]) -> dict[str, set[str]]:
    """domain -> every selector the keystore ever made (published or retired).

    A DKIM TXT under ``_domainkey`` whose selector is here was created by
    mailops and may be deleted once retired; any other selector (a mail
    provider's, say) is only deleted with --force.
    """
    out: dict[str, set[str]] = {}
    for ks, domains in _keystores(hosts):
        for d in domains:
            out.setdefault(d, set()).update(k.selector for k in ks.keys(d))
    return out

