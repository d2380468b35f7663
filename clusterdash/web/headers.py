"""The headers every response carries, in every auth mode: a Content-Security-Policy the dashboard runs under,
no MIME sniffing, no framing, no referrer outside the site; and no caching of what is someone's own.

The policy, and why each part is what it is:
- scripts: only this server's files, plus the one inline script Dash writes into the page (the renderer's
  start), allowed by its hash (dash.Dash.csp_hashes()); no 'unsafe-inline', no 'unsafe-eval' (the dashboard
  runs without: tests/test_auth_browser.py checks the console). The sign-in page has no script at all.
- style elements (style-src-elem): this server's files and 'unsafe-inline'. plotly.js writes its own stylesheet
  at run time (Lib.addStyleRule), dcc's components (react-select, the date picker, highlight.js) and dash_table
  do too, with contents that vary, and Dash cannot give them a nonce; without it 37 <style> elements are
  refused and the hover labels, dropdowns, date picker and table lose their layout. An injected style cannot
  run code, and every name is shown as text (never markup), so the remaining risk is restyling the page.
- style attributes (style-src-attr): only the two plotly.js sets, by hash ('unsafe-hashes' lets a hash name an
  attribute's text); style-src itself is 'self' (a browser without the -elem/-attr directives falls back to it).
- images: this server and data: URLs (plotly draws the heatmap as a data: PNG, Bootstrap its radio buttons as
  data: SVGs); fonts: this server only.
- connect-src 'self' (the callbacks and the API), form-action 'self' (sign-in, sign-out), object-src 'none',
  base-uri 'none', frame-ancestors 'none' (with X-Frame-Options: DENY for older browsers).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from flask import Response

# The two style attributes plotly.js sets with setAttribute (the rest of its styling goes through the CSSOM, which
# CSP does not govern): an empty one, and the heatmap image's `image-rendering: optimizeSpeed; ...` (pixelated
# cells). Found by loading and using the dashboard under a policy without them; the browser tests keep the
# console clean, so a plotly.js that sets another one fails them.
PLOTLY_STYLE_ATTRIBUTES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-AR/cKIZjWPcPmBUPDA6oti9XBiTbJvz0Cro2J1VzzS8='",
)
STATIC_POLICY = {
    "default-src": "'self'",
    "style-src": "'self'",
    "style-src-elem": "'self' 'unsafe-inline'",
    "style-src-attr": "'unsafe-hashes' " + " ".join(PLOTLY_STYLE_ATTRIBUTES),
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def style_hash(text: str) -> str:
    """The CSP source that allows exactly this inline <style> text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(script_hashes: Iterable[str] = (), style_sources: Iterable[str] = ()) -> str:
    """The policy for the dashboard (script_hashes: dash's inline scripts) or a page of our own (a page whose only
    inline code is a <style> allowed by its hash: style_sources)."""
    policy = dict(STATIC_POLICY)
    policy["script-src"] = " ".join(["'self'", *script_hashes])
    styles = list(style_sources)
    if styles:
        policy["style-src-elem"] = " ".join(["'self'", *styles])
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def add_security_headers(response: Response, policy: str, private: bool) -> Response:
    """The headers above; `private`: the answer depends on who asked (signed in), so no shared cache keeps it."""
    response.headers.setdefault("Content-Security-Policy", policy)
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if private:
        # Scripts and styles keep their caching, for this browser only; an answer with an ETag is revalidated
        # (a 304 when the data has not changed); anything else is not stored.
        cached = response.headers.get("Cache-Control")
        if cached and "max-age" in cached:
            response.headers["Cache-Control"] = cached.replace("public", "private")
        else:
            response.headers["Cache-Control"] = "private, no-cache" if response.headers.get("ETag") else "no-store"
        response.vary.add("Cookie")
        response.vary.add("Authorization")
    return response
