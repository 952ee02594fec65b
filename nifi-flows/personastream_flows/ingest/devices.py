"""Device enrichment: ``{type, os, os_version, browser, browser_version}`` from the
User-Agent, with ua-parser (uap-core rules; the ua-parser-rs resolver when installed)."""
from __future__ import annotations

from typing import Any

from ua_parser import (BasicResolver, Cache, CachingResolver, Parser, load_builtins,
                       load_lazy_builtins)

try:  # ua-parser-rs: the native resolver, ~40x faster than BasicResolver on a cache miss
    from ua_parser.regex import Resolver as NativeResolver
except ImportError:  # pragma: no cover - depends on what the environment installed
    NativeResolver = None

UA_CACHE_SIZE = 2000


def build_ua_parser(cache_size: int = UA_CACHE_SIZE, native: bool = True) -> Parser:
    """A ua-parser ``Parser`` over the builtins regexes, behind an S3-FIFO cache.

    Uses the ua-parser-rs resolver when ``native`` and installed (lazy matchers: the Python
    regexes are never compiled), else the pure-Python ``BasicResolver``.
    """
    if native and NativeResolver is not None:
        resolver = NativeResolver(load_lazy_builtins())
    else:
        resolver = BasicResolver(load_builtins())
    return Parser(CachingResolver(resolver, Cache(cache_size)))


_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "Windows Mobile", "BlackBerry OS",
                        "BlackBerry Tablet OS", "KaiOS", "Symbian OS", "Firefox OS", "HarmonyOS",
                        "Tizen", "Sailfish", "webOS"})
_MOBILE_DEVICES = frozenset({"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"})
_DESKTOP_OS = frozenset({"Mac OS X", "macOS", "Chrome OS", "ChromeOS", "Ubuntu", "Fedora",
                         "Debian", "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "Linux Mint"})


def _version(parsed: Any) -> str | None:
    parts = []
    for part in (parsed.major, parsed.minor, parsed.patch, parsed.patch_minor):
        if part is None:
            break
        parts.append(part)
    return ".".join(parts) or None


def _family(parsed: Any) -> str | None:
    return None if parsed is None or parsed.family == "Other" else parsed.family


def device_from_user_agent(parser: Parser, user_agent: str | None) -> dict:
    """``device`` of an event: ``{type, os, os_version, browser, browser_version}``.

    ``type`` comes from the first rule that holds (all None when there is no User-Agent):

    1. ``bot``: uap's device family is ``Spider`` (its family for crawlers);
    2. ``tablet``: device family ``iPad`` or ``Kindle``, "tablet" in the device family, brand or
       model, or Android without the ``Mobile`` token (tablets omit it, and so do Android TVs);
    3. ``mobile``: a mobile OS (iOS, Android, ...) or an iPhone/iPod/generic smartphone;
    4. ``desktop``: Windows (not Phone/Mobile), macOS, ChromeOS, Linux or a BSD;
    5. ``other``: anything else (curl, TVs, consoles, unknown).

    An iPad in "desktop site" mode sends a Mac User-Agent and is counted as desktop.

    >>> parser = build_ua_parser()
    >>> device_from_user_agent(parser, "Mozilla/5.0 (compatible; Googlebot/2.1; "
    ...                        "+http://www.google.com/bot.html)")["type"]
    'bot'
    """
    if not user_agent:
        return {"type": None, "os": None, "os_version": None, "browser": None,
                "browser_version": None}
    parsed = parser.parse(user_agent)
    os_family, browser = _family(parsed.os), _family(parsed.user_agent)
    device = parsed.device
    device_family = _family(device)
    device_words = " ".join(filter(None, (device_family, device and device.brand,
                                          device and device.model))).lower()
    if device_family == "Spider":
        kind = "bot"
    elif (device_family in ("iPad", "Kindle") or "tablet" in device_words
          or (os_family == "Android" and "Mobile" not in user_agent)):
        kind = "tablet"
    elif os_family in _MOBILE_OS or device_family in _MOBILE_DEVICES:
        kind = "mobile"
    elif os_family is not None and (os_family.startswith("Windows") or os_family in _DESKTOP_OS
                                    or "Linux" in os_family):
        kind = "desktop"
    else:
        kind = "other"
    return {"type": kind, "os": os_family,
            "os_version": _version(parsed.os) if os_family else None,
            "browser": browser,
            "browser_version": _version(parsed.user_agent) if browser else None}
