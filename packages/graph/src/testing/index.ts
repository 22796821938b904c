/**
 * `@loom/graph/testing`: the fast-check arbitraries Loom's own property tests use, for a user's
 * property tests. `arbitraryGraphCase()` draws a random well-typed graph with its symbol bindings,
 * input feeds (in range for gathers and cache positions) and weights; `f32Budget` and
 * `firstMismatch` state and check the float32 tolerance of a result against the float64
 * interpreter; `describeCase` prints a failing case. Needs the `fast-check` package (a peer).
 */
export {
  arbitraryGraphCase,
  arbitraryGraphSpec,
  buildGraphCase,
  describeCase,
  f32Budget,
  firstMismatch,
  F32_OP_TOLERANCE,
  FORWARD_ONLY_KINDS,
  GRADIENT_KINDS,
  RECIPE_KINDS,
  STATIC_DIMS,
  SYMBOLS,
  type ArbitraryGraphOptions,
  type GraphCase,
  type GraphSpec,
  type Recipe,
  type RecipeKind,
} from './arbitrary-graph.ts';
