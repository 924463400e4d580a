// SPDX-License-Identifier: Apache-2.0
// d3-selection and d3-flame-graph ship no types; the panel uses them through these few calls.
declare module 'd3-selection' {
  export function select(el: Element): { datum(d: unknown): { call(f: unknown): unknown } };
}
declare module 'd3-flame-graph' {
  /** A frame as d3-flame-graph hands it to callbacks: a d3-hierarchy node over our data. */
  export interface FrameNode<D> {
    data: D;
    value: number;
    highlight?: boolean;
  }
  export interface FlameChart<D> {
    (selection: unknown): void;
    width(w: number): FlameChart<D>;
    cellHeight(h: number): FlameChart<D>;
    transitionDuration(ms: number): FlameChart<D>;
    minFrameSize(px: number): FlameChart<D>;
    inverted(on: boolean): FlameChart<D>;
    selfValue(on: boolean): FlameChart<D>;
    sort(on: boolean): FlameChart<D>;
    setDetailsElement(el: HTMLElement): FlameChart<D>;
    setLabelHandler(f: (d: FrameNode<D>) => string): FlameChart<D>;
    setSearchMatch(f: (d: FrameNode<D>, term: string) => boolean): FlameChart<D>;
    setColorMapper(f: (d: FrameNode<D>, original: string) => string): FlameChart<D>;
    search(term: string): void;
    clear(): void;
    resetZoom(): void;
    update(data: D): void;
    destroy(): void;
  }
  export default function flamegraph<D>(): FlameChart<D>;
}
