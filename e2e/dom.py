"""What a faithful recording of a page holds, computed on the live page in Chromium.

Shared by the leak suite (snapshot completeness) and the interop test (the page rrweb's
replayer rebuilds). Both compare the tags counted here with the recorded ones.
"""

from __future__ import annotations

from collector.assets import masking_rules

CLINICAL_RULES = masking_rules("examples/clinical-app.json")
# What the recorder blocks whatever the rules say (masking-rules/README.md), plus markup.
ALWAYS_BLOCKED = "img, video, audio, canvas, iframe, frame, object, embed, svg image"
BLOCKED = ", ".join([ALWAYS_BLOCKED, "[data-replay-block]", *CLINICAL_RULES.get("block", [])])

# (blocked selector) -> {tags, ids}: every element but script and noscript, open shadow
# roots included, each blocked element counted once as its placeholder (no children, no
# attributes, so no id). Blocked frames and plugins become a <div> placeholder.
LIVE_ELEMENTS = """(blocked) => {
    const ids = [];
    const tags = [];
    const visit = (el) => {
        if (el.localName === 'script' || el.localName === 'noscript') return;
        const isBlocked = el.matches(blocked);
        const framed = ['iframe', 'frame', 'object', 'embed'].includes(el.localName);
        tags.push(isBlocked && framed ? 'div' : el.localName.toLowerCase());
        if (isBlocked) return;
        if (el.id) ids.push(el.id);
        if (el.shadowRoot) for (const child of el.shadowRoot.children) visit(child);
        for (const child of el.children) visit(child);
    };
    visit(document.documentElement);
    return {tags, ids};
}"""
