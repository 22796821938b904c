/**
 * README's "In the browser" usage, word for word inside a function (the example's test compares the
 * two and runs this one in Chromium on a Llama-style checkpoint).
 */
import { RemoteCausalLm, RemoteTokenizer, WorkerRuntime } from '@loom/models/worker';

export async function readmeUsage(tokenizerFile: File, configFile: File, weightsFile: File, output: HTMLElement): Promise<number[]> {
  const runtime = new WorkerRuntime(new Worker(new URL('./loom-worker.js', import.meta.url), { type: 'module' }));
  const tokenizer = await RemoteTokenizer.load(runtime, await tokenizerFile.text());
  const lm = await RemoteCausalLm.load(runtime, {
    config: JSON.parse(await configFile.text()),
    weights: await weightsFile.arrayBuffer(),          // transferred to the Worker
    backend: 'cpu',                                    // or 'webgpu', 'webgl'
    options: { weightStore: 'q8', cpu: { threads: navigator.hardwareConcurrency } },
  });
  const ids: number[] = [];
  for await (const token of lm.generate(await tokenizer.encode('Hello'), { maxNewTokens: 32 })) {
    ids.push(token);
    output.textContent = await tokenizer.decode(ids);  // breaking out of the loop stops the generation
  }
  runtime.dispose();                                   // ends the Worker
  return ids;
}
