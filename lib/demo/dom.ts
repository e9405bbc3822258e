/**
 * The few browser APIs the demo page uses, declared here instead of through
 * `/// <reference lib="dom" />`: `deno task check` type-checks all of
 * `lib/` as one program under Deno's own globals, and the DOM's
 * declarations of the same web APIs (`TextDecoderStream`, `Response`, …)
 * conflict with them, breaking files that have nothing to do with the page.
 *
 * @module
 */

/** An element, with what the page touches. */
export interface Elem {
  textContent: string | null;
  className: string;
  innerHTML: string;
  classList: { add(name: string): void; remove(name: string): void };
  append(...nodes: Elem[]): void;
  replaceChildren(...nodes: Elem[]): void;
  addEventListener(type: string, listener: (e: DomEvent) => void): void;
}

/** A file the user picked or dropped. */
export type DomFile = Blob & { type: string; name: string };

/** An event; a drop carries files. */
export interface DomEvent {
  preventDefault(): void;
  dataTransfer?: { files: ArrayLike<DomFile> } | null;
}

/** What a canvas can be drawn from (an element or a decoded bitmap). */
export type Drawable = object;

/** A 2-D canvas context. */
export interface Canvas2D {
  font: string;
  lineWidth: number;
  strokeStyle: string;
  fillStyle: string;
  textBaseline: string;
  imageSmoothingQuality: string;
  drawImage(source: Drawable, x: number, y: number, w?: number, h?: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  putImageData(image: { data: Uint8ClampedArray }, x: number, y: number): void;
  strokeRect(x: number, y: number, w: number, h: number): void;
  fillRect(x: number, y: number, w: number, h: number): void;
  fillText(text: string, x: number, y: number): void;
  measureText(text: string): { width: number };
}

export interface Canvas extends Elem {
  width: number;
  height: number;
  getContext(kind: "2d", options?: { willReadFrequently?: boolean }): Canvas2D | null;
}

export interface MediaStreamLike {
  getTracks(): { stop(): void }[];
}

export interface Video extends Elem {
  srcObject: MediaStreamLike | null;
  videoWidth: number;
  videoHeight: number;
  play(): Promise<void>;
}

export interface Select extends Elem {
  value: string;
  add(option: unknown): void;
}

export interface FileInput extends Elem {
  files: ArrayLike<DomFile> | null;
  disabled: boolean;
}

export interface Button extends Elem {
  disabled: boolean;
}

/** A decoded image. */
export interface Bitmap {
  width: number;
  height: number;
  close(): void;
}

/** The page's globals. */
export interface Browser {
  document: {
    getElementById(id: string): Elem | null;
    createElement(tag: string): Elem;
    addEventListener(type: string, listener: (e: DomEvent) => void): void;
  };
  navigator: { mediaDevices: { getUserMedia(constraints: object): Promise<MediaStreamLike> } };
  location: { href: string };
  crossOriginIsolated: boolean;
  createImageBitmap(blob: Blob, options?: { imageOrientation?: string }): Promise<Bitmap>;
  ImageData: new (width: number, height: number) => { data: Uint8ClampedArray };
  Option: new (label: string, value: string, defaultSelected?: boolean, selected?: boolean) => unknown;
}

/** The browser's globals, typed as {@link Browser}. */
export const browser = globalThis as unknown as Browser;
