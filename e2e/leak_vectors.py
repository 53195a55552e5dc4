"""The canary page's leak vectors: one synthetic canary per way PHI could leave a page.

Each vector names a channel (a text node, an attribute, a typed value, a URL part, ...)
and the canary placed in it, in `leak_page/index.html` or by the test's driver. A
canary is unique: finding it anywhere names exactly one vector. The PHI-shaped ones
(SSN, e-mail, phone, date, MRN) sit inside unmask regions, where only the recorder's
detector stands between them and the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

VECTORS: dict[str, str] = {
    # Text nodes
    "text-plain": "CANARY-01-TEXTNODE",
    "text-unmask-ssn (label)": "900-00-0002",
    "text-unmask-email (data-replay-unmask)": "canary.03@example.invalid",
    "text-unmask-phone (th)": "555 010 0004",
    "text-unmask-date (button)": "1903-02-05",
    "text-unmask-mrn (h3)": "MRN70000606",
    "svg-text": "CANARY-07-SVGTEXT",
    # Attributes
    "attr-title": "CANARY-08-TITLEATTR",
    "attr-alt (input type=image)": "CANARY-09-ALTATTR",
    "attr-aria-label (unmasked button)": "CANARY-10-ARIALABEL",
    "attr-placeholder (unmask region)": "CANARY-11-PLACEHOLDER",
    "attr-value (initial input value)": "CANARY-12-VALUEATTR",
    "attr-data-*": "CANARY-13-DATAATTR",
    "attr-onclick": "CANARY-14-ONCLICK",
    "attr-unknown": "CANARY-15-UNKNOWNATTR",
    "attr-button-value (unmasked button)": "CANARY-16-BUTTONVALUE",
    # Form fields and what the user does with them
    "typed-masked-input": "CANARY-17-TYPED",
    "typed-unmask-ssn (detector)": "999-18-1818",
    "typed-unmask-ssn-keystroke-prefix (detector)": "999-18-",
    "textarea-initial": "CANARY-20-TEXTAREA",
    "textarea-cleared-by-user": "CANARY-21-TEXTAREACLEARED",
    "select-option-text": "CANARY-22-OPTIONTEXT",
    "select-option-value (selected by user)": "CANARY-23-OPTIONVALUE",
    "radio-value (clicked)": "CANARY-24-RADIOVALUE",
    "checkbox-value (checked)": "CANARY-25-CHECKBOXVALUE",
    "submit-value": "CANARY-26-SUBMITVALUE",
    "contenteditable-typed": "CANARY-27-EDITABLE",
    # Always-masked fields, inside an unmask region
    "password-in-unmask": "CANARY-28-PASSWORD",
    "hidden-in-unmask": "CANARY-29-HIDDEN",
    "file-name-in-unmask": "CANARY-30-FILENAME",
    "autocomplete-cc-number-in-unmask": "CANARY-31-CCNUMBER",
    "autocomplete-current-password-in-unmask": "CANARY-32-CURRENTPASSWORD",
    "password-then-type-text (typed before)": "CANARY-33-PWTYPECHANGE",
    "password-then-type-text (typed after)": "CANARY-34-AFTERCHANGE",
    # Values set by script, without events
    "script-value": "CANARY-35-SCRIPTVALUE",
    "script-checked (checkbox value)": "CANARY-36-SCRIPTCHECKED",
    "script-selectedIndex": "CANARY-37-SELECTEDINDEX",
    "script-value-unmask-ssn (detector)": "900-00-0038",
    # Blocked elements
    "img-alt": "CANARY-39-IMGALT",
    "img-src": "CANARY-40-IMGSRC",
    "canvas": "CANARY-41-CANVAS",
    "iframe-srcdoc": "CANARY-42-SRCDOC",
    "video-src": "CANARY-43-VIDEOSRC",
    "data-replay-block class": "CANARY-44-BLOCKCLASS",
    "data-replay-block text": "CANARY-45-BLOCKTEXT",
    "block-rule (.signature-pad) text": "CANARY-46-SIGNATUREPAD",
    "svg-image-href": "CANARY-47-SVGIMAGE",
    # Dropped content and page metadata
    "comment": "CANARY-48-COMMENT",
    "script-content": "CANARY-49-SCRIPT",
    "noscript": "CANARY-50-NOSCRIPT",
    "template-content": "CANARY-51-TEMPLATE",
    "meta-content": "CANARY-52-METACONTENT",
    "document-title": "CANARY-53-DOCTITLE",
    "document-referrer": "CANARY-54-REFERRER",
    # URLs
    "page-url-query": "CANARY-55-PAGEQUERY",
    "page-url-fragment": "CANARY-56-PAGEHASH",
    "page-url-path-id": "CANARY-57-PAGEPATH",
    "href-query": "CANARY-58-HREFQUERY",
    "href-fragment": "CANARY-59-HREFHASH",
    "href-path-id": "CANARY-60-HREFPATH",
    "href-mailto": "canary.61@example.invalid",
    "src-query (input type=image)": "CANARY-62-SRCQUERY",
    "srcset (picture source)": "CANARY-63-SRCSET",
    "form-action": "CANARY-64-FORMACTION",
    "link-href-query": "CANARY-65-LINKQUERY",
    "style-attr-url": "CANARY-66-STYLEURL",
    "stylesheet-url-query": "CANARY-67-SHEETURL",
    "stylesheet-url-path-id": "CANARY-68-SHEETPATH",
    "stylesheet-import-query": "CANARY-69-CSSIMPORT",
    # CSS strings
    "css-content-string": "CANARY-70-CSSCONTENT",
    "css-custom-property-string": "CANARY-71-CSSCUSTOM",
    "css-comment": "CANARY-72-CSSCOMMENT",
    "style-attr-custom-property": "CANARY-73-STYLECUSTOM",
    "linked-stylesheet-content": "CANARY-74-LINKEDCSS",
    # Shadow DOM
    "shadow-root-text (declarative, open)": "CANARY-75-SHADOWTEXT",
    "shadow-root-input-typed": "CANARY-76-SHADOWTYPED",
    # Script mutations after load
    "mutation-added-text": "CANARY-77-ADDEDTEXT",
    "mutation-setAttribute-title": "CANARY-78-SETATTRIBUTE",
    "mutation-text-data": "CANARY-79-TEXTDATA",
    "mutation-unmask-ssn (h2, detector)": "900-00-0080",
    "mutation-href": "CANARY-81-HREFMUTATION",
    "mutation-style-url": "CANARY-82-STYLEMUTATION",
    "mutation-cssom-insertRule": "CANARY-83-INSERTRULE",
    "mutation-document-title": "CANARY-84-TITLESET",
    "mutation-shadow-attached": "CANARY-85-LATESHADOW",
    "mutation-into-blocked": "CANARY-86-BLOCKMUTATION",
    # SPA navigation into the excluded /volunteers/** route
    "spa-excluded-route-path": "CANARY-87-VOLPATH",
    "spa-excluded-route-heading (h1)": "CANARY-88-VOLHEADING",
    "spa-excluded-route-typed (unmask)": "CANARY-89-VOLTYPED",
    # Channels that are never captured, and the custom-event API
    "console-log": "CANARY-90-CONSOLE",
    "thrown-error": "CANARY-91-THROWN",
    "unhandled-rejection": "CANARY-92-REJECTION",
    "fetch-url": "CANARY-93-FETCH",
    "addEvent-untrusted-payload": "CANARY-94-ADDEVENT",
    "addEvent-key-not-marked-safe": "CANARY-95-ADDEVENTUNSAFE",
    # Identifiers the page chose: they leave only as per-session pseudonyms
    "id (a row id built from a name)": "CANARY-101-ROWID",
    "class (a diagnosis flag)": "CANARY-102-DXCLASS",
    "name (an input named after an allergy)": "CANARY-103-NAMEATTR",
    "label for / input id": "CANARY-104-FORATTR",
    "td headers": "CANARY-105-HEADERS",
    "input list / datalist id": "CANARY-106-LISTATTR",
    "in-page fragment href / target id": "CANARY-107-ANCHOR",
    "svg use href fragment": "CANARY-108-SVGREF",
    "svg use xlink:href fragment": "CANARY-109-XLINK",
    "svg fill url(#gradient)": "CANARY-110-GRADIENT",
    "role": "CANARY-111-ROLEATTR",
    "input type (unknown value)": "CANARY-112-TYPEATTR",
    "mutation-setAttribute-class": "CANARY-113-SETCLASS",
    "mutation-setAttribute-id": "CANARY-114-SETID",
    "stylesheet class selector": "CANARY-115-CSSCLASS",
    "stylesheet id selector": "CANARY-116-CSSID",
    "lang (not a language tag)": "CANARY-117-LANGATTR",
    # URL path segments that look like nothing in particular (no digits)
    "page-url-slug (SPA pushState)": "CANARY-ROE-SPASLUG",
    "href-path-slug": "CANARY-ROE-HREFSLUG",
    "link-icon-href-slug": "CANARY-ROE-AVATAR",
    "stylesheet-url-slug": "CANARY-ROE-CSSSLUG",
    "srcset-slug": "CANARY-ROE-SRCSETSLUG",
    "style-attr-url-slug": "CANARY-ROE-STYLESLUG",
    # CSS strings outside content:, escaped url(), attribute selectors
    "css-attr-selector-quoted (insertRule at run time)": "CANARY-301-ATTRSEL",
    "css-attr-selector-unquoted (style text)": "CANARY-302-ATTRIDENT",
    "css-escaped-url-function (\\75rl)": "CANARY-303-ESCURL",
    "css-quotes-string": "CANARY-304-QUOTES",
    "css-list-style-type-string": "CANARY-305-LISTSTYLE",
    "style-attr-quotes-string": "CANARY-306-STYLEQUOTES",
    "style-attr-escaped-url-function": "CANARY-307-ESCSTYLE",
    "css-escaped-url-function (insertRule)": "CANARY-308-ESCINSERT",
    # Detector formats inside unmask regions
    "date, hyphenated month name": "07-Sep-1943",
    "date, dotted month name": "08.Oct.1944",
    "date, German month name": "9. März 1945",
    "date, compact DDMMMYYYY": "10NOV1946",
    "phone, UK international": "+44 20 7946 0958",
    "SSN with spaces": "123 45 6789",
    "date typed into an unmask field (day-month-year, dotted)": "11.12.1947",
    # Fields that stop looking sensitive (inside an unmask region)
    "switched to password, typed, shown again while focused": "CANARY-501-STICKYPW",
    "autocomplete cc-number added, typed, removed": "CANARY-502-STICKYCC",
    "type password and back in one task, value set by script": "CANARY-503-FLIPTASK",
    # Leaving and entering the excluded route in the same task as a write
    "toast written in the same task as the pushState that leaves": "CANARY-603-VOLTOAST",
    "excluded view rendered before its pushState": "CANARY-604-RENDERFIRST",
    "excluded view left by a pushState the recorder never wrapped": "CANARY-605-UNHOOKED",
    "excluded view's last write before an unwrapped pushState": "CANARY-606-UNHOOKEDLAST",
}

# Vectors of the second recording, a tab that loads straight onto the excluded route.
DIRECT_VECTORS: dict[str, str] = {
    "loaded on the excluded route: heading (unmask)": "CANARY-601-VOLDIRECT",
    "loaded on the excluded route: toast (unmask)": "CANARY-602-VOLDIRECTTOAST",
    "loaded on the excluded route: its path": "CANARY-ROE-VOLDIRECTPATH",
}

# Vectors whose canary is gone from the page at the end (shown and removed, or never in
# the DOM). Every other canary must still be found on the live page, or the vector
# would prove nothing.
TRANSIENT = {
    "spa-excluded-route-path",
    "spa-excluded-route-heading (h1)",
    "spa-excluded-route-typed (unmask)",
    "console-log",
    "thrown-error",
    "unhandled-rejection",
    "fetch-url",
    "addEvent-untrusted-payload",
    "addEvent-key-not-marked-safe",
    "page-url-slug (SPA pushState)",
    "excluded view rendered before its pushState",
    "excluded view left by a pushState the recorder never wrapped",
    "excluded view's last write before an unwrapped pushState",
}

EVENT_TYPES = {0: "DomContentLoaded", 1: "Load", 2: "FullSnapshot", 3: "Incremental", 4: "Meta"}
EVENT_TYPES |= {5: "Custom", 6: "Plugin"}
SOURCES = {0: "Mutation", 1: "MouseMove", 2: "MouseInteraction", 3: "Scroll"}
SOURCES |= {4: "ViewportResize", 5: "Input", 6: "TouchMove", 7: "MediaInteraction"}
SOURCES |= {8: "StyleSheetRule", 9: "CanvasMutation", 10: "Font", 11: "Log", 12: "Drag"}
SOURCES |= {13: "StyleDeclaration", 14: "Selection", 15: "AdoptedStyleSheet"}


def describe(event: Any) -> str:
    """`FullSnapshot`, `Incremental/Input`, ... for an rrweb event; `?` if it is not one."""
    if not isinstance(event, dict):
        return "?"
    kind, data = event.get("type"), event.get("data")
    name = EVENT_TYPES.get(kind, f"type {kind!r}") if isinstance(kind, int) else "?"
    if kind == 3 and isinstance(data, dict):
        source = data.get("source")
        return f"{name}/{SOURCES.get(source, source) if isinstance(source, int) else '?'}"
    return name


def frame_parts(frames: Iterable[str]) -> list[tuple[str, str]]:
    """Split sent frames into (where, text): one part per batched event, else the frame."""
    parts: list[tuple[str, str]] = []
    for i, frame in enumerate(frames):
        try:
            message = json.loads(frame)
        except ValueError:
            parts.append((f"frame {i} (not JSON)", frame))
            continue
        if isinstance(message, dict) and isinstance(message.get("events"), list):
            seq = message.get("seq")
            for event in message["events"]:
                where = f"frame {i} batch {seq}: {describe(event)}"
                parts.append((where, json.dumps(event, ensure_ascii=False)))
            rest = {k: v for k, v in message.items() if k != "events"}
            parts.append((f"frame {i} batch {seq} envelope", json.dumps(rest)))
        else:
            kind = message.get("type") if isinstance(message, dict) else None
            parts.append((f"frame {i} ({kind})", frame))
    return parts


def stored_parts(stored: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(where, text) for each exported event: `seq 3: Incremental/Input`."""
    return [
        (f"seq {e.get('seq')}: {describe(e.get('event'))}", json.dumps(e, ensure_ascii=False))
        for e in stored
    ]


def find_leaks(vectors: Mapping[str, str], parts: Iterable[tuple[str, str]]) -> dict[str, str]:
    """vector -> "canary in <first place found> (+N more)" for every canary found.

    Case-insensitive, as a masked copy in another case is still a leak.
    """
    lowered = [(where, text.lower()) for where, text in parts]
    leaks: dict[str, str] = {}
    for vector, canary in vectors.items():
        places = [where for where, text in lowered if canary.lower() in text]
        if places:
            more = f" (+{len(places) - 1} more)" if len(places) > 1 else ""
            leaks[vector] = f"{canary} in {places[0]}{more}"
    return leaks


def leak_message(leaks: Mapping[str, str], channel: str) -> str:
    lines = "\n".join(f"  {vector}: {found}" for vector, found in sorted(leaks.items()))
    return f"{len(leaks)} vector(s) leaked into {channel}:\n{lines}"
