// The bench's JSON, read back: which figures are missing (the smoke's check), this run over an
// earlier one (--compare), and the table printed beside the JSON.

/** Every numeric figure as a flat `path → value` map; list entries are keyed by size, model or backend. */
export function figures(results) {
  const out = {};
  const walk = (v, path) => {
    if (typeof v === 'number') out[path] = v;
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${entryName(x, i)}]`));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
  };
  walk(results, '');
  return out;
}

function entryName(x, i) {
  if (!x || typeof x !== 'object') return String(i);
  return [x.size, x.model, x.backend].filter((p) => p !== undefined).join(' ') || String(i);
}

/**
 * What a smoke run failed to measure: a section with no entries, an entry that reports an error, a
 * figure that is null or not finite. Values are not judged.
 */
export function missingFigures(results) {
  const missing = [];
  const walk = (v, path) => {
    if (v === null) missing.push(`${path} (null)`);
    else if (typeof v === 'number' && !Number.isFinite(v)) missing.push(`${path} (${v})`);
    else if (Array.isArray(v)) {
      if (v.length === 0 && path !== 'leftovers' && path !== 'missing') missing.push(`${path} (empty)`);
      v.forEach((x, i) => walk(x, `${path}[${entryName(x, i)}]`));
    } else if (v && typeof v === 'object') {
      if ('error' in v) missing.push(`${path}: ${v.error}`);
      for (const [k, x] of Object.entries(v)) if (k !== 'comparedWith') walk(x, path ? `${path}.${k}` : k);
    }
  };
  walk(results, '');
  return missing;
}

/** This run's figures over an earlier run's, for every figure both have (times: below 1 is faster). */
export function compareRuns(now, before) {
  const a = figures(now);
  const b = figures(before);
  const out = {};
  for (const [path, v] of Object.entries(a)) {
    if (path.startsWith('comparedWith')) continue;
    if (typeof b[path] === 'number' && b[path] !== 0) out[path] = Number((v / b[path]).toFixed(3));
  }
  return out;
}

const fmt = (v, digits = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');

function rows(lines) {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  return lines.map((l) => l.map((c, i) => String(c).padEnd(widths[i])).join('  ')).join('\n');
}

/** The human view of one run: loop, models, checkpoints, and the comparison when there is one. */
export function table(results) {
  const out = [];
  const loop = results.trainingLoop.filter((r) => !r.error);
  if (loop.length > 0) {
    out.push(
      rows([
        ['loop', 'backend', 'app samples/s', 'bare samples/s', 'ratio'],
        ...loop.map((r) => ['', r.backend, fmt(r.appSamplesPerSecond), fmt(r.bareSamplesPerSecond), fmt(r.ratio, 3)]),
      ]),
    );
  }
  const models = (results.models ?? []).filter((r) => !r.error);
  if (models.length > 0) {
    out.push(
      rows([
        ['model', 'backend', 'params', 'app samples/s', 'bare samples/s', 'ratio'],
        ...models.map((r) => [
          r.model,
          r.backend,
          r.params,
          fmt(r.appSamplesPerSecond),
          fmt(r.bareSamplesPerSecond),
          fmt(r.ratio, 3),
        ]),
      ]),
    );
  }
  const cps = (results.checkpoints ?? []).filter((r) => !r.error);
  if (cps.length > 0) {
    const line = (what, f) => [what, ...cps.map(f)];
    out.push(
      rows([
        ['checkpoint', ...cps.map((r) => `${r.size} (${fmt(r.bytesPerCheckpoint / 1e6, 1)} MB)`)],
        line('OPFS store / raw ms', (r) => `${fmt(r.opfs.storeMs)} / ${fmt(r.opfs.rawMs)} = ${fmt(r.opfs.ratio, 2)}x`),
        line('  old raw (createWritable)', (r) => `${fmt(r.opfs.rawOld.rawMs)} ms, ${fmt(r.opfs.rawOld.ratio, 2)}x`),
        line('  a new checkpoint (nothing replaced) ms', (r) =>
          r.opfs.newCheckpoint ? `${fmt(r.opfs.newCheckpoint.storeMs)} = ${fmt(r.opfs.newCheckpoint.ratio, 2)}x` : '–',
        ),
        ...Object.keys(cps[0].opfs.stagesMs ?? {}).map((k) => line(`  store: ${k}`, (r) => fmt(r.opfs.stagesMs?.[k]))),
        line(
          'IndexedDB store / raw ms',
          (r) => `${fmt(r.idb.storeMs)} / ${fmt(r.idb.rawMs)} = ${fmt(r.idb.ratio, 2)}x`,
        ),
        line('  old raw (32 MiB arrays)', (r) => `${fmt(r.idb.rawOld.rawMs)} ms, ${fmt(r.idb.rawOld.ratio, 2)}x`),
        line(
          'end to end ms opfs/idb/both/periodic',
          (r) =>
            `${fmt(r.endToEndMs.opfs)} / ${fmt(r.endToEndMs.idb)} / ${fmt(r.endToEndMs.both)} / ${fmt(r.endToEndMs.periodic)}`,
        ),
        line(
          'MB/s SHA-256 native / hash-wasm; XXH64',
          (r) => `${fmt(r.hash.nativeMbPerS)} / ${fmt(r.hash.hashWasmMbPerS)}; ${fmt(r.hash.xxh64MbPerS)}`,
        ),
        line(
          'loop held / (read + step) ms',
          (r) =>
            `${fmt(r.loopHeld.heldMs)} / ${fmt(r.loopHeld.deviceReadMs + r.loopHeld.stepMs)} = ${fmt(r.loopHeld.ratio, 2)}x`,
        ),
        line(
          'resume to first step; beyond a step / raw ms',
          (r) =>
            `${fmt(r.resume.toFirstStepMs)}; ${fmt(r.resume.beyondStepMs)} / ${fmt(r.resume.rawReadAndUploadMs)} = ${fmt(r.resume.ratio, 2)}x`,
        ),
        ...Object.keys(cps[0].resume.stagesMs).map((k) =>
          line(`  ${k}`, (r) => {
            const w = r.resume.windowsMs?.[k];
            return `${fmt(r.resume.stagesMs[k])}${w ? ` (${fmt(w[0])}-${fmt(w[1])})` : ''}`;
          }),
        ),
        line(
          'vs tfjs save ms (ours/theirs)',
          (r) => `${fmt(r.vsTfjs.ourSaveMs)} / ${fmt(r.vsTfjs.tfjsSaveMs)} = ${fmt(r.vsTfjs.saveRatio, 2)}x`,
        ),
        line(
          'vs tfjs load + first step ms (ours/theirs)',
          (r) =>
            `${fmt(r.vsTfjs.ourResumeMs)} / ${fmt(r.vsTfjs.tfjsLoadMs + r.vsTfjs.tfjsFirstStepMs)} = ${fmt(r.vsTfjs.loadRatio, 2)}x`,
        ),
        line(
          'vs tfjs load, no step ms (ours/theirs)',
          (r) => `${fmt(r.vsTfjs.ourLoadMs)} / ${fmt(r.vsTfjs.tfjsLoadMs)} = ${fmt(r.vsTfjs.loadOnlyRatio, 2)}x`,
        ),
        line(
          'peak worker heap over state, save / resume',
          (r) => `${fmt(r.memory.save.heap?.copiesOfState, 2)}x / ${fmt(r.memory.resume.heap?.copiesOfState, 2)}x`,
        ),
        line(
          'peak tensor MB save / resume',
          (r) =>
            `${fmt(r.memory.save.peakTensorDeltaBytes / 1e6, 1)} / ${fmt(r.memory.resume.peakTensorDeltaBytes / 1e6, 1)}`,
        ),
      ]),
    );
  }
  if (results.comparedWith) {
    const keys = Object.keys(results.comparedWith.ratios).filter((k) =>
      /(storeMs|toFirstStepMs|heldMs|endToEndMs|SamplesPerSecond|\.ratio)$|endToEndMs\./.test(k),
    );
    out.push(
      rows([[`over ${results.comparedWith.file}`, 'ratio'], ...keys.map((k) => [k, results.comparedWith.ratios[k]])]),
    );
  }
  out.push(`wasmThreads: ${results.wasmThreads ?? '-'}`);
  return out.join('\n\n');
}
