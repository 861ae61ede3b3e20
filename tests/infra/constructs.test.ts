import { existsSync } from 'node:fs';
import path from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { type FunctionName, handlerEntry, PipelineFunction } from '../../infra/constructs/function.ts';
import { ROOT } from '../../infra/paths.ts';

describe('PipelineFunction', () => {
  it.each(['generator', 'ingest', 'migrate'] as const)(
    'builds %s from functions/<name>/handler.ts',
    (name) => {
      expect(handlerEntry(name)).toBe(`functions/${name}/handler.ts`);
      expect(existsSync(path.join(ROOT, handlerEntry(name)))).toBe(true);
    },
  );

  it('fails the synth with the missing path when an entry file does not exist (no stand-in code)', () => {
    // Bundling skipped, as in the template tests: the entry must exist all the same.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    expect(
      () =>
        new PipelineFunction(stack, 'Missing', {
          name: 'no-such-function' as FunctionName,
          environment: {},
          logRemovalPolicy: RemovalPolicy.DESTROY,
        }),
    ).toThrow(
      'Cannot build the no-such-function function: functions/no-such-function/handler.ts does not exist',
    );
  });
});
