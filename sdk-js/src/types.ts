// Shared types: rrweb's `eventWithTime` shapes (with rrweb's numeric enums) and the
// context object that every observer and the serializer receive.

import type { Masker } from './mask';
import type { Mirror } from './mirror';

export const enum EventType {
  FullSnapshot = 2,
  IncrementalSnapshot = 3,
  Meta = 4,
  Custom = 5,
}

export const enum IncrementalSource {
  Mutation = 0,
  MouseMove = 1,
  MouseInteraction = 2,
  Scroll = 3,
  ViewportResize = 4,
  Input = 5,
  TouchMove = 6,
  MediaInteraction = 7,
}

export const enum MediaInteraction {
  Play = 0,
  Pause = 1,
  Seeked = 2,
  VolumeChange = 3,
  RateChange = 4,
}

export const enum MouseInteraction {
  MouseUp = 0,
  MouseDown = 1,
  Click = 2,
  ContextMenu = 3,
  DblClick = 4,
  Focus = 5,
  Blur = 6,
  TouchStart = 7,
  TouchEnd = 9,
}

export const enum NodeType {
  Document = 0,
  DocumentType = 1,
  Element = 2,
  Text = 3,
}

/** Attribute values as rrweb serialises them; `null` only in mutations (attribute removed). */
export type Attributes = Record<string, string | true | null>;

export interface SerializedDocument<Child = WireNode> {
  type: NodeType.Document;
  childNodes: Child[];
  id: number;
}

export interface SerializedDocumentType {
  type: NodeType.DocumentType;
  name: string;
  publicId: string;
  systemId: string;
  id: number;
}

/**
 * An element on the wire (docs/protocol.md, "Packed nodes"): rrweb's element node with
 * short keys, empty fields left out, and its children inside it even in a mutation add.
 */
export interface PackedElement {
  /** id */
  i: number;
  /** tagName */
  n: string;
  /** attributes; absent when there are none */
  a?: Attributes;
  /** childNodes (light DOM first, then the open shadow root's, marked `sr`); absent when none */
  c?: WireNode[];
  /** isSVG */
  svg?: true;
  /** isShadowHost */
  sh?: true;
  /** isShadow: a child of its parent's shadow root */
  sr?: true;
}

/** A text node on the wire: `x` is its (masked) textContent, `st` rrweb's isStyle. */
export interface PackedText {
  i: number;
  x: string;
  st?: true;
  sr?: true;
}

export type PackedNode = PackedElement | PackedText;

/** What a full snapshot holds: the document and doctype in rrweb's shape, the rest packed. */
export type WireNode = PackedNode | SerializedDocument | SerializedDocumentType;

/** rrweb's element node, as the collector expands a packed one (tests read these). */
export interface SerializedElement {
  type: NodeType.Element;
  tagName: string;
  attributes: Attributes;
  childNodes: SerializedNode[];
  isSVG?: true;
  /** The element has an open shadow root; children with `isShadow` belong to it. */
  isShadowHost?: true;
  isShadow?: true;
  id: number;
}

export interface SerializedText {
  type: NodeType.Text;
  textContent: string;
  isStyle?: true;
  isShadow?: true;
  id: number;
}

/** rrweb's serialized node. */
export type SerializedNode =
  | SerializedDocument<SerializedNode>
  | SerializedDocumentType
  | SerializedElement
  | SerializedText;

export interface MetaData {
  href: string;
  width: number;
  height: number;
}

export interface FullSnapshotData {
  node: WireNode;
  initialOffset: { top: number; left: number };
}

export interface MutationData {
  source: IncrementalSource.Mutation;
  texts: { id: number; value: string }[];
  attributes: { id: number; attributes: Attributes }[];
  removes: { parentId: number; id: number; isShadow?: true }[];
  adds: { parentId: number; nextId: number | null; node: PackedNode }[];
}

export interface MouseInteractionData {
  source: IncrementalSource.MouseInteraction;
  type: MouseInteraction;
  id: number;
  x?: number;
  y?: number;
}

export interface MouseMoveData {
  source: IncrementalSource.MouseMove | IncrementalSource.TouchMove;
  positions: { x: number; y: number; id: number; timeOffset: number }[];
}

export interface ScrollData {
  source: IncrementalSource.Scroll;
  id: number;
  x: number;
  y: number;
}

export interface ViewportResizeData {
  source: IncrementalSource.ViewportResize;
  width: number;
  height: number;
}

export interface MediaInteractionData {
  source: IncrementalSource.MediaInteraction;
  type: MediaInteraction;
  id: number;
  currentTime?: number;
}

/** Custom marker from `addEvent`; payload values have been through the masker. */
export interface CustomData {
  tag: string;
  payload: Record<string, string | number | boolean | null>;
}

export interface InputData {
  source: IncrementalSource.Input;
  id: number;
  text: string;
  isChecked: boolean;
}

export type IncrementalData =
  | MutationData
  | MouseMoveData
  | MouseInteractionData
  | ScrollData
  | ViewportResizeData
  | InputData
  | MediaInteractionData;

/** An event before the recorder stamps it with a time. */
export type RecordedEvent =
  | { type: EventType.Meta; data: MetaData }
  | { type: EventType.FullSnapshot; data: FullSnapshotData }
  | { type: EventType.IncrementalSnapshot; data: IncrementalData }
  | { type: EventType.Custom; data: CustomData };

export type EventWithTime = RecordedEvent & { timestamp: number };

/** A browser window with its own constructors (WebSocket, MutationObserver, …). */
export type Win = Window & typeof globalThis;

/** The one object handed to the serializer and to every observer. */
export interface RecordContext {
  readonly win: Win;
  readonly doc: Document;
  readonly mask: Masker;
  /** Node ids of the current full snapshot; replaced by every new full snapshot. */
  mirror: Mirror;
  /** Queue an event for sending (drops it when capture is paused). */
  emit(event: RecordedEvent): void;
  /** emit() of an IncrementalSnapshot event. */
  incremental(data: IncrementalData): void;
  /**
   * False while the page is on an excluded route, or settling after leaving one;
   * callers then drop what they saw.
   */
  capturing(): boolean;
  /** True while the tab is on an excluded route: what changes now gets tainted. */
  excluded(): boolean;
  /** The DOM changed while nothing was captured (the settle wait after an excluded route). */
  domChanged(): void;
  /**
   * Handle the mutation records still pending now (MutationObserver.takeRecords), before
   * the page changes its URL; `asExcluded`: they belong to the excluded view being
   * left, so they are tainted, never captured.
   */
  drain(asExcluded: boolean): void;
  /** Call on user activity before reading node ids: may start a new session (idle timeout). */
  activity(): void;
  /** The URL may have changed (SPA navigation): new Meta, or pause/resume on excluded routes. */
  navigated(): void;
  /** An open shadow root was met (serialised or attached): every observer watching roots hears of it, once. */
  watchRoot(root: ShadowRoot): void;
  /** Listen inside each open shadow root met from now on (events that do not cross its boundary); once per root. */
  onRoot(watch: (root: ShadowRoot) => void): () => void;
}

/** An observer starts listening and returns its own teardown. */
export type Observer = (ctx: RecordContext) => () => void;
