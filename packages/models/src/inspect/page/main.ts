/**
 * `loom inspect`'s page: loads the model from the local server, then three views of it on the
 * backend chosen in the header (cpu, webgpu where the browser has navigator.gpu, webgl): the graph
 * through the passes, the plan with its memory and kernel times, and the model on a prompt.
 */
import { graphInputs, symbolsOf } from '@loom/graph';
import { GraphView } from './graph-view.ts';
import { LearnView } from './learn-view.ts';
import { ModelView } from './model-view.ts';
import { PlanView } from './plan-view.ts';
import { Session, type PageBackend } from './session.ts';
import { html } from './svg.ts';

const status = document.getElementById('status')!;

/** Default sizes for the plan: batch 1, sequences of 8 (or the prompt's length once a run has happened). */
function bindingsFor(session: Session, model: ModelView): Map<string, number> {
  const bindings = new Map<string, number>();
  for (const n of graphInputs(session.graph)) for (const s of symbolsOf(n.type.shape)) bindings.set(s, s === 'batch' ? 1 : 8);
  for (const n of graphInputs(session.graph)) {
    const fed = model.lastFeeds?.[String(n.attrs['name'])];
    if (fed) n.type.shape.forEach((d, i) => typeof d === 'string' && bindings.set(d, fed.shape[i]!));
  }
  return bindings;
}

/** Per-step milliseconds of one profiled run on the session's backend (in its Worker), after one run that warms it up (JIT, shader compiles). */
async function profileSteps(session: Session, feeds: Record<string, import('@loom/graph').NDArray>, steps: number, nodeOfStep: (k: number) => number): Promise<number[]> {
  const model = await session.model(false, true);
  await model.run(feeds, false);
  const times = await model.profile(feeds);
  if (times.steps) return [...times.steps];
  const byNode = new Map<number, number>();
  for (const t of times.nodes ?? []) byNode.set(t.node, (byNode.get(t.node) ?? 0) + t.ms);
  return Array.from({ length: steps }, (_, k) => byNode.get(nodeOfStep(k)) ?? NaN);
}

async function main(): Promise<void> {
  const session = await Session.load();
  document.getElementById('title')!.textContent = `Loom inspect: ${session.info.title}`;
  const graphView = new GraphView();
  const planView = new PlanView();
  const modelView = new ModelView(session);
  const learnView = new LearnView(session, () => modelView.walkthroughInput());
  const views = { graph: graphView.element, plan: planView.element, model: modelView.element, learn: learnView.element };
  const nav = document.querySelector('header nav')!;
  nav.setAttribute('role', 'tablist');
  nav.setAttribute('aria-label', 'views');
  const main = document.querySelector('main')!;
  const tabs = Object.keys(views) as (keyof typeof views)[];
  const show = (name: keyof typeof views) => {
    for (const [other, el] of Object.entries(views)) el.hidden = other !== name;
    nav.querySelectorAll('button').forEach((b) => b.setAttribute('aria-selected', String(b.dataset['tab'] === name)));
  };
  for (const [name, element] of Object.entries(views)) {
    // a tab list (WAI-ARIA's pattern): each tab controls its view, a tab panel
    const tab = html('button', { role: 'tab', id: `tab-${name}`, 'data-tab': name, 'aria-selected': name === 'graph' ? 'true' : 'false', 'aria-controls': element.id }, name);
    element.setAttribute('role', 'tabpanel');
    element.setAttribute('aria-labelledby', `tab-${name}`);
    tab.addEventListener('click', () => {
      show(name as keyof typeof views);
      setRoute(name);
      if (name === 'learn' && !learnView.ran) void guarded(() => learnView.run(0));
    });
    nav.append(tab);
    element.hidden = name !== 'graph';
    main.append(element);
  }
  modelView.focus.onSelect = (layer, head) => setRoute(`model/${layer}/${head}`);
  learnView.onStep = (index) => setRoute(`learn/${index}`);
  /** Opens what the address names: `#graph`, `#plan`, `#model`, `#model/<attention layer>/<head>` (after a run of the prompt). */
  const openRoute = async (): Promise<void> => {
    const [tab, layer, head] = routeParts();
    if (!tabs.includes(tab as keyof typeof views)) return;
    show(tab as keyof typeof views);
    // #learn/<step>: the walkthrough at that step; #graph/<text>: the graph with that text searched
    if (tab === 'learn') return learnView.ran ? learnView.show(Number(layer ?? 0)) : guarded(() => learnView.run(Number(layer ?? 0)));
    if (tab === 'graph' && layer !== undefined) return graphView.searchFor(layer);
    if (tab !== 'model' || layer === undefined) return;
    if (!modelView.lastFeeds) await modelView.run();
    if (!modelView.focus.select(layer, Number(head ?? 0))) throw new Error(`#${location.hash.slice(1)}: the model has no attention layer '${layer}' with that head`);
  };
  window.addEventListener('hashchange', () => void openRoute().catch(showError));

  const select = document.getElementById('backend') as HTMLSelectElement;
  const offered: PageBackend[] = ['cpu', ...('gpu' in navigator ? (['webgpu'] as const) : []), 'webgl'];
  const available = offered.filter((b) => !(b in session.info.unavailable));
  for (const b of available) select.append(html('option', { value: b }, b));
  const why = Object.values(session.info.unavailable);
  if (why.length > 0) select.parentElement!.after(html('span', { 'data-testid': 'unavailable', style: 'font-size: 12px; color: #c8cdd6' }, why.join('; ')));
  const refresh = () => {
    const bindings = bindingsFor(session, modelView);
    const { snapshots, plan } = session.compileTrace(Object.fromEntries(bindings));
    graphView.setSnapshots(snapshots);
    planView.setPlan(plan, bindings);
  };
  select.addEventListener('change', () => {
    session.backend = select.value as PageBackend;
    status.textContent = 'running';
    refresh();
    status.textContent = 'ready';
  });
  planView.profileButton.addEventListener('click', async () => {
    status.textContent = 'running';
    try {
      refresh();
      const plan = planView.current!;
      const feeds = modelView.lastFeeds;
      if (!feeds) throw new Error('run the model on a prompt first (the model tab): the profile times that run');
      planView.setTimes(await profileSteps(session, feeds, plan.steps.length, (k) => plan.steps[k]!.node), session.backend);
      status.textContent = 'ready';
    } catch (e) {
      planView.summary.textContent = (e as Error).message;
      status.textContent = 'error';
    }
  });
  refresh();
  status.textContent = 'ready';
  await openRoute();
}

/** Runs `work` with the status line saying so; an error goes on the page. */
async function guarded(work: () => Promise<void>): Promise<void> {
  status.textContent = 'running';
  try {
    await work();
    status.textContent = 'ready';
  } catch (e) {
    showError(e);
  }
}

/** The address's route, `#a/b/c` -> ['a', 'b', 'c'] (names decoded). */
function routeParts(): string[] {
  return location.hash.slice(1).split('/').filter((p) => p !== '').map(decodeURIComponent);
}

/** Makes the address name what is shown, without adding to the history. */
function setRoute(route: string): void {
  history.replaceState(null, '', `#${route.split('/').map(encodeURIComponent).join('/')}`);
}

function showError(e: unknown): void {
  status.textContent = 'error';
  document.querySelector('main')!.append(html('p', { class: 'error', 'data-testid': 'load-error' }, (e as Error).message));
}

main().catch(showError);
