// d3-selection and d3-flame-graph ship no types; the panel uses them through these few calls.
declare module 'd3-selection' {
  export function select(el: Element): { datum(d: unknown): { call(f: unknown): unknown } };
}
declare module 'd3-flame-graph' {
  const flamegraph: () => any;
  export default flamegraph;
}
