"""XSS payloads after the OWASP XSS Filter Evasion Cheat Sheet, for the pages that show untrusted text.

https://cheatsheetseries.owasp.org/cheatsheets/XSS_Filter_Evasion_Cheat_Sheet.html

Each payload, if a page ever let it become markup, would open a dialog (`alert`) or set
`window.__xss`. They are grouped by the trick they use: plain tags, event handlers with odd case,
whitespace and separators, entity-encoded `javascript:` URLs, breaking out of attributes and
elements (`">`, `</textarea>`, `</script>`), `data:` URLs, `srcdoc`, styles, Markdown links and
autolinks (posts are rendered from Markdown), template syntax (Django, Angular) and htmx
attributes (the pages run htmx), and mutation-XSS shapes. `MARKERS` are substrings every payload
holds (once its entities are decoded), so a test can check that the text did reach the page, as text.
"""

from __future__ import annotations

import html

PAYLOADS: list[str] = [
    # Script tags, plain and mangled.
    "<script>alert('XSS')</script>",
    '<SCRIPT SRC="data:text/javascript,window.__xss=1"></SCRIPT>',
    '<SCRIPT/XSS SRC="data:,window.__xss=1"></SCRIPT>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    # Images and SVG with handlers: odd case, whitespace, slashes, entities.
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src="x" ONERROR =  "window.__xss=1">',
    '<img/src="x"/onerror=alert(1)>',
    "<svg/onload=alert('XSS')>",
    "<svg><script>window.__xss=1</script></svg>",
    "<BODY ONLOAD=alert('XSS')>",
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    "<details open ontoggle=alert(1)>",
    '<video><source onerror="javascript:alert(1)">',
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    # javascript: URLs, encoded every way the cheat sheet lists.
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<a href=\" &#14;  javascript:alert('XSS');\">entity</a>",
    "<form><button formaction=javascript:alert(1)>X</button></form>",
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    # Breaking out of attributes, text areas, scripts, titles and comments.
    '"><img src=x onerror=window.__xss=1>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</script><script>window.__xss=1</script>",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    "--><script>alert(1)</script><!--",
    # data: URLs, frames, objects, meta refresh, base.
    '<IFRAME SRCDOC="<script>parent.__xss=1</script>"></IFRAME>',
    "<iframe src=javascript:alert(1)>",
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+" type="image/svg+xml" alert(1)>',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    # Styles.
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<STYLE>@import'javascript:alert(\"XSS\")';</STYLE>",
    # Markdown: links, images and autolinks to scripts.
    "[click me](javascript:alert(1))",
    '[x](JaVaScRiPt:alert(1) "title")',
    "![img](javascript:alert(1))",
    "<javascript:alert(1)>",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) alert(1)",
    # Templates and htmx.
    "{{ 7|add:7 }}{% debug %}{{ request.user }} alert(1)",
    "{{constructor.constructor('alert(1)')()}}",
    '<div hx-get="/admin/" hx-trigger="load" hx-on:htmx:load="window.__xss=1">htmx</div>',
    # Mutation XSS.
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "\\u003cimg src=x onerror=alert(1)\\u003e %3Cscript%3Ealert(1)%3C/script%3E",
]

MARKERS = ("alert(", "__xss")
assert all(any(marker in html.unescape(payload) for marker in MARKERS) for payload in PAYLOADS)


def storable_id(payload: str) -> bool:
    """Whether the payload can be a session id (no control characters, at most 255 characters)."""
    return len(payload) <= 255 and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in payload)
