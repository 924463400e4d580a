// The shared bench harness: install reference tools, launch and time tracers, summarize, print.
export * from './install';
export * from './launch';
export * from './stats';
export * from './report';
