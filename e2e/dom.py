"""What a faithful recording of a page holds, computed on the live page in Chromium.

Shared by the leak suite (snapshot completeness) and the interop test (the page rrweb's
replayer rebuilds). Both compare the tags counted here with the recorded ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from collector.assets import masking_rules

CLINICAL_RULES = masking_rules("examples/clinical-app.json")
RRWEB_UMD = Path(__file__).parents[1] / "sdk-js/node_modules/rrweb/dist/rrweb.umd.min.cjs"
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

# Computed styles a replay must reproduce, element by element, for the page to look as
# it did: with pseudonymised classes and ids the stylesheets must still match. Sizes
# that follow the (masked) text are left out.
STYLE_PROPERTIES = [
    "display", "color", "backgroundColor", "fontWeight", "fontSize", "fontStyle",
    "textAlign", "borderTopWidth", "borderTopStyle", "borderTopColor", "paddingTop",
    "paddingLeft", "marginTop", "position", "visibility", "opacity",
]  # fmt: skip

# (blocked, properties) -> every element of the light DOM in document order, as the
# recorder records it (no script or noscript, nothing inside a blocked element).
LIVE_STYLES = """([blocked, properties]) => {
    const out = [];
    for (const el of document.querySelectorAll('*')) {
        if (el.closest('script, noscript')) continue;
        if (el.parentElement && el.parentElement.closest(blocked)) continue;
        const style = getComputedStyle(el);
        out.push({tag: el.localName.toLowerCase(), blocked: el.matches(blocked),
                  style: properties.map((p) => style[p])});
    }
    return out;
}"""

# The same for a replayed document: only the elements the replayer built from events.
REPLAY_STYLES = """(doc, mirror, properties) => [...doc.querySelectorAll('*')]
    .filter((el) => mirror.getId(el) > 0)
    .map((el) => {
        const style = doc.defaultView.getComputedStyle(el);
        return {tag: el.localName.toLowerCase(), style: properties.map((p) => style[p])};
    })"""


def style_mismatches(live: list[dict[str, Any]], replay: list[dict[str, Any]]) -> list[str]:
    """Where the replay's computed styles differ from the live page's (blocked elements,
    which become placeholders, are not compared)."""
    if len(live) != len(replay):
        return [f"{len(live)} live elements, {len(replay)} replayed"]
    out = []
    for i, (a, b) in enumerate(zip(live, replay, strict=True)):
        if a["blocked"]:
            continue
        if (a["tag"], b["tag"]) == ("link", "style"):
            continue  # rrweb rebuilds an inlined stylesheet link as a <style>
        if a["tag"] != b["tag"]:
            out.append(f"#{i}: <{a['tag']}> replayed as <{b['tag']}>")
            continue
        for name, x, y in zip(STYLE_PROPERTIES, a["style"], b["style"], strict=True):
            if x != y:
                out.append(f"#{i} <{a['tag']}> {name}: {x} live, {y} replayed")
    return out


# Rebuild the recording, jump to its end, and describe the rebuilt document: the tags
# of the elements the replayer built from events (its mirror knows them; anything it
# injects for itself does not count), and the text a support engineer would read.
REPLAY = (
    """async ([events, properties]) => {
    const warnings = [];
    const logger = {log: () => {}, warn: (...args) => warnings.push(args.map(String).join(' '))};
    const replayer = new rrweb.Replayer(events, {
        root: document.getElementById('player'), showWarning: true, logger,
    });
    // +1: the replayer applies at once only events strictly before the pause point.
    replayer.pause(events[events.length - 1].timestamp - events[0].timestamp + 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const doc = replayer.iframe.contentDocument;
    const mirror = replayer.getMirror();
    const all = [...doc.querySelectorAll('*')];
    const built = all.filter((el) => mirror.getId(el) > 0);
    const shadowTags = [];
    for (const el of built) {
        if (el.shadowRoot) shadowTags.push(...[...el.shadowRoot.querySelectorAll('*')]
            .map((child) => child.localName));
    }
    const styles = ("""
    + REPLAY_STYLES
    + """)(doc, mirror, properties);
    return {
        styles,
        tags: [...built.map((el) => el.localName), ...shadowTags],
        injected: all.filter((el) => mirror.getId(el) <= 0).map((el) => el.localName),
        text: doc.body ? doc.body.innerText : '',
        warnings,
    };
}"""
)
