/**
 * Error statistics of a lossy rounding, accumulated per chunk in the worker (plain numbers, so
 * they cross postMessage as is), merged per tensor and per file on the main thread, and
 * summarised as the figures the CLI and UI show. NaN and Inf are preserved exactly and counted
 * apart; every other value takes part in every figure.
 */
export interface ErrorAcc {
  /** elements seen (finite and not) */
  elements: number;
  /** NaN / Inf elements (never changed) */
  nonFinite: number;
  /** elements whose bits changed */
  changed: number;
  maxAbs: number;
  /** largest |x' - x| / |x| over nonzero finite x */
  maxRel: number;
  sumSqErr: number;
  sumSqRef: number;
}

export interface ErrorSummary {
  elements: number;
  changedFraction: number;
  maxAbsError: number;
  maxRelError: number;
  rmse: number;
  /** 10 log10(sum x^2 / sum (x' - x)^2); Infinity when nothing changed (JSON: null) */
  snrDb: number | null;
}

export function newAcc(): ErrorAcc {
  return { elements: 0, nonFinite: 0, changed: 0, maxAbs: 0, maxRel: 0, sumSqErr: 0, sumSqRef: 0 };
}

export function mergeAcc(into: ErrorAcc, a: ErrorAcc): ErrorAcc {
  into.elements += a.elements;
  into.nonFinite += a.nonFinite;
  into.changed += a.changed;
  if (a.maxAbs > into.maxAbs) into.maxAbs = a.maxAbs;
  if (a.maxRel > into.maxRel) into.maxRel = a.maxRel;
  into.sumSqErr += a.sumSqErr;
  into.sumSqRef += a.sumSqRef;
  return into;
}

/** Scales the additive parts (for figures measured on a sample). */
export function scaleAcc(a: ErrorAcc, f: number): ErrorAcc {
  return {
    ...a,
    elements: Math.round(a.elements * f),
    nonFinite: Math.round(a.nonFinite * f),
    changed: Math.round(a.changed * f),
    sumSqErr: a.sumSqErr * f,
    sumSqRef: a.sumSqRef * f,
  };
}

export function summarizeErrors(a: ErrorAcc): ErrorSummary {
  const finite = a.elements - a.nonFinite;
  return {
    elements: a.elements,
    changedFraction: a.elements ? a.changed / a.elements : 0,
    maxAbsError: a.maxAbs,
    maxRelError: a.maxRel,
    rmse: finite ? Math.sqrt(a.sumSqErr / finite) : 0,
    snrDb: a.sumSqErr > 0 ? 10 * Math.log10(a.sumSqRef / a.sumSqErr) : null,
  };
}
