"""Which services the user's selection allows: patterns, the deny-list, explicit opt-in."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from fnmatch import fnmatchcase
from typing import Any

from .const import DANGEROUS_SERVICE_PATTERNS, URL_FETCHING_SERVICE_PATTERNS

# "domain.service" where either part may use the fnmatch wildcards * and ?.
_SELECTION_RE = re.compile(r"^[a-z0-9_*?]+\.[a-z0-9_*?]+$")


def is_dangerous(service_id: str) -> bool:
    """Return True when "domain.service" is on the deny-list."""
    return any(fnmatchcase(service_id, pattern) for pattern in DANGEROUS_SERVICE_PATTERNS)


def fetches_urls(service_id: str, description: Mapping[str, Any] | None) -> bool:
    """Whether the service makes HA fetch or play a URL the caller picks: named in
    URL_FETCHING_SERVICE_PATTERNS, or a field of it takes media (a `media` selector)."""
    if any(fnmatchcase(service_id, pattern) for pattern in URL_FETCHING_SERVICE_PATTERNS):
        return True
    return any(
        isinstance(config, Mapping)
        and isinstance(config.get("selector"), Mapping)
        and "media" in config["selector"]
        for config in _fields(description or {})
    )


def _fields(description: Mapping[str, Any]) -> Iterable[Any]:
    fields = description.get("fields")
    if not isinstance(fields, Mapping):
        return
    for config in fields.values():
        # a collapsible section holds fields of its own
        if isinstance(config, Mapping) and isinstance(config.get("fields"), Mapping):
            yield from _fields(config)
        else:
            yield config


def invalid_selections(selections: Iterable[str]) -> list[str]:
    """Return the entries that are not "domain.service" (wildcards allowed)."""
    return [entry for entry in selections if not _SELECTION_RE.match(entry)]


def _names_domain_explicitly(selection: str, domain: str) -> bool:
    """A dangerous service counts as chosen only when its domain is written out, not matched."""
    return selection.split(".", 1)[0] == domain


def select_services(
    available: Mapping[str, Iterable[str]],
    selections: Iterable[str],
    *,
    allow_dangerous: bool,
    exact_only: AbstractSet[str] = frozenset(),
) -> list[tuple[str, str]]:
    """Return the (domain, service) pairs that the selection allows, sorted.

    `available` maps each domain to its registered services. Entries of `selections` that are
    malformed match nothing. A service on the deny-list is included only when `allow_dangerous`
    is set and an entry that names its domain literally (e.g. "homeassistant.restart" or
    "homeassistant.*", but not "*.restart") matches it. A service in `exact_only` ("domain.service"
    of services that target no entity, so that the exposure check never applies to them, and of
    services that fetch a URL the model picks) is included only when an entry names it exactly,
    never through a wildcard.
    """
    patterns = [entry.strip().lower() for entry in selections]
    patterns = [entry for entry in patterns if _SELECTION_RE.match(entry)]
    chosen: set[tuple[str, str]] = set()
    for domain, services in available.items():
        for service in services:
            service_id = f"{domain}.{service}"
            matching = [p for p in patterns if fnmatchcase(service_id, p)]
            if service_id in exact_only:
                matching = [p for p in matching if p == service_id]
            if not matching:
                continue
            if is_dangerous(service_id) and not (
                allow_dangerous and any(_names_domain_explicitly(p, domain) for p in matching)
            ):
                continue
            chosen.add((domain, service))
    return sorted(chosen)


def offered_services(available: Mapping[str, Iterable[str]]) -> list[str]:
    """Services (and "domain.*" patterns) to list in the options flow: all minus the deny-list."""
    offered: list[str] = []
    for domain in sorted(available):
        services = sorted(s for s in available[domain] if not is_dangerous(f"{domain}.{s}"))
        if not services:
            continue
        if len(services) > 1 and not is_dangerous(f"{domain}.*"):
            offered.append(f"{domain}.*")
        offered.extend(f"{domain}.{service}" for service in services)
    return offered
