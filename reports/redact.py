"""What the customer's report leaves out: secrets, addresses that are not the
site's own, the vendor's internal host names, callers' phone numbers.

The site's own names stay (directories, owners, seats, the site's devices):
they are the evidence the customer needs. The site's own addresses are the
ones its configuration names (gateways, the call-center server, ``[site]
networks``) plus this host's own interface addresses and gateway as the
network check saw them; every other IP address is hidden.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable

from diagnose.redact import redact_text

# scheme://user:password@host -> scheme://user:***@host
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):([^\s@/]+)@")
# password=..., secret: ..., token=... (config-ish and command-line forms)
_KEY_VALUE = re.compile(r"(?i)\b((?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key)[_a-z]*\s*[=:]\s*)"
                        r"(\"[^\"]*\"|'[^']*'|[^\s,;&]+)")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# A run of 7 to 15 digits, optionally with a leading + and spaces, dashes or
# parentheses between digits: a phone number (+7 (495) 123-45-67, 89161234567).
_PHONE = re.compile(r"(?<![\w/.:+-])\+?\(?\d(?:[ ()-]{0,2}\d){6,14}(?![\w/:-]|\.\d)")
_HOST = re.compile(r"\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b|\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b", re.I)
_DATE_OR_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{2}:\d{2}|^\d{8}T|^\d{1,4}\.\d{1,4}\.\d{1,4}$")


class Redactor:
    """Applies the customer's rules to one string at a time."""

    def __init__(self, site_addresses: Iterable[str] = (), vendor_domains: Iterable[str] = (),
                 hidden_address: str = "[address hidden]", hidden_phone: str | None = None) -> None:
        self.networks = []
        for a in site_addresses:
            try:
                self.networks.append(ipaddress.ip_network(str(a).strip(), strict=False))
            except ValueError:
                continue
        self.vendor_domains = tuple(d.lower().lstrip("@.") for d in vendor_domains if d)
        self.hidden_address = hidden_address

    def _site_ip(self, text: str) -> bool | None:
        """True: the site's own (or loopback); False: someone else's; None: not an address."""
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return None
        if ip.is_loopback or ip.is_unspecified:
            return True
        return any(ip in net for net in self.networks if net.version == ip.version)

    def _ip(self, m: re.Match) -> str:
        return m.group(0) if self._site_ip(m.group(0)) in (True, None) else self.hidden_address

    def _vendor(self, m: re.Match) -> str:
        text = m.group(0).lower()
        host = text.split("@", 1)[-1]
        if any(host == d or host.endswith("." + d) for d in self.vendor_domains):
            return self.hidden_address
        return m.group(0)

    @staticmethod
    def _phone(m: re.Match) -> str:
        text = m.group(0)
        digits = sum(c.isdigit() for c in text)
        if digits < 7 or _DATE_OR_TIME.match(text.lstrip("(+")):
            return text
        keep = 2
        seen, out = 0, []
        for c in text:
            if c.isdigit():
                seen += 1
                out.append(c if seen > digits - keep else "*")
            else:
                out.append(c)
        return "".join(out)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        text = redact_text(text)  # secrets: never anywhere, whatever the audience
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@", text)
        text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}***", text)
        text = _IPV4.sub(self._ip, text)
        text = _IPV6.sub(self._ip, text)
        if self.vendor_domains:
            text = _HOST.sub(self._vendor, text)
        return _PHONE.sub(self._phone, text)


def _walk_ips(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        for m in _IPV4.finditer(value):
            yield m.group(0)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk_ips(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk_ips(v)


def site_addresses(report: Any, config: Any = None) -> list[str]:
    """The site's own addresses: configured equipment and networks, and what
    this host's network check saw of its own link (address, gateway, DNS).

    *config* is a :class:`diagnose.config.Config` or its sections as a dict;
    only sections the file has are looked at (a default names no address,
    and looking one up would import the check owning it)."""
    out: list[str] = []
    if config is not None:
        site = _section(config, "site")
        out += list(site.get("networks") or [])
        gateways = _section(config, "gateway")
        if isinstance(gateways, dict):  # a [[gateway]] list is {"items": [...]} in a Config
            gateways = gateways.get("items", [gateways])
        for g in gateways if isinstance(gateways, list) else []:
            if isinstance(g, dict) and g.get("address"):
                out.append(g["address"])
        net = _section(config, "network")
        if net and net.get("server"):
            out.append(net["server"])
    for f in getattr(report, "findings", []):
        if f.check == "network.connectivity" and f.evidence.get("scope", "local") == "local":
            out += list(_walk_ips({k: v for k, v in f.evidence.items()
                                   if k in ("address", "addresses", "gateway", "default_gateway",
                                            "dns", "nameservers", "route", "interface_addresses")}))
    return sorted(set(out))


def _section(config: Any, name: str) -> Any:
    if hasattr(config, "section"):
        return config.section(name) if config.has(name) else {}
    return config.get(name) or {}


def vendor_domains(email_cfg: Any) -> list[str]:
    """Mail domains of the vendor's recipients ([email] to/cc when customer
    recipients are listed apart), plus [email] vendor_domains."""
    if not email_cfg:
        return []
    domains = list(email_cfg.get("vendor_domains") or [])
    customer = {a.rsplit("@", 1)[-1].lower() for a in email_cfg.get("customer_to") or []}
    for r in email_cfg.get("recipients") or []:
        if r.get("audience") == "customer":
            customer.add(str(r.get("address", "")).rsplit("@", 1)[-1].lower())
    if customer:
        for a in list(email_cfg.get("to") or []) + list(email_cfg.get("cc") or []):
            d = a.rsplit("@", 1)[-1].lower()
            if d not in customer:
                domains.append(d)
    return sorted(set(domains))
