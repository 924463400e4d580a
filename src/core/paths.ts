// SPDX-License-Identifier: Apache-2.0
// Where memscope is installed: the one computation of the project root, from this compiled
// module's place (dist/src/core → ../../..). BPF objects, the addon, the sampler library and the
// test workloads are found from it.
import * as path from 'node:path';

export const projectRoot = path.resolve(__dirname, '..', '..', '..');
