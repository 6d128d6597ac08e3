import type { Command } from 'commander';
import { addRule, loadPolicy } from '../policy/admin.js';
import { applyPolicy, exportPolicy, readPolicyFile } from '../policy/file.js';
import { PROGRAM, UsageError, note, out, printJson, table, withData, withDataOption } from './common.js';
import type { DataOptions } from './common.js';

const SEMANTICS =
  'A user always reaches itself; a matching deny beats any allow; otherwise the default applies. Rules are one-way (SRC → DST).';

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('the connection policy: who may reach whom')
    .addHelpText(
      'after',
      `\n${SEMANTICS}\nSelectors: * | USER | USER@OTHER.DOMAIN | group:NAME | domain:DOMAIN\n\nPolicy file (policy apply):\n  { "default": "deny-all",\n    "groups": { "eng": ["alice", "bob"] },\n    "rules": [ { "allow": "group:eng", "to": "group:eng" }, { "deny": "carol", "to": "*" } ] }`,
    );

  for (const action of ['allow', 'deny'] as const) {
    withDataOption(
      policy
        .command(action)
        .argument('<src>', 'who: *, USER, USER@DOMAIN, group:NAME, domain:DOMAIN')
        .argument('<dst>', 'whom they may (not) reach, same forms')
        .description(`add a rule: ${action} SRC to reach DST`),
    ).action(async (src: string, dst: string, opts: DataOptions) => {
      await withData(opts, ({ store, config }) => {
        const r = addRule(store, config, action, src, dst);
        out(`Added rule ${r.position}: ${r.action} ${r.src} -> ${r.dst}`);
      });
    });
  }

  withDataOption(
    policy
      .command('remove')
      .argument('<n>', 'rule number, as shown by policy show')
      .description('remove a rule'),
  ).action(async (n: string, opts: DataOptions) => {
    if (!/^\d+$/.test(n) || Number(n) < 1)
      throw new UsageError(
        `expected a rule number (1, 2, ...) as shown by ${PROGRAM} policy show (got '${n}')`,
      );
    await withData(opts, ({ store }) => {
      const r = store.rules.removeAt(Number(n));
      out(`Removed rule ${n}: ${r.action} ${r.src} -> ${r.dst}`);
    });
  });

  withDataOption(
    policy
      .command('default')
      .argument('<allow-all|deny-all>')
      .description('what applies when no rule matches'),
  ).action(async (value: string, opts: DataOptions) => {
    if (value !== 'allow-all' && value !== 'deny-all')
      throw new UsageError(`expected allow-all or deny-all (got '${value}')`);
    await withData(opts, ({ store }) => {
      store.settings.setPolicyDefault(value);
      out(`Policy default: ${value}`);
    });
  });

  withDataOption(
    policy
      .command('show')
      .description('show the default, groups and rules')
      .option('--json', 'print as a policy file (policy apply reads it back)'),
  ).action(async (opts: DataOptions & { json?: boolean }) => {
    await withData(opts, ({ store, config }) => {
      const file = exportPolicy(store, config);
      if (opts.json) {
        printJson(file);
        return;
      }
      out(`default: ${file.default}`);
      const groups = Object.entries(file.groups);
      out(groups.length === 0 ? 'groups: none' : 'groups:');
      for (const [name, members] of groups) out(`  ${name}: ${members.join(', ') || '(empty)'}`);
      const rules = store.rules.list();
      if (rules.length === 0) out('rules: none');
      else {
        out('rules:');
        out(
          table(
            ['  #', 'ACTION', 'SRC', '', 'DST'],
            rules.map((r) => [`  ${r.position}`, r.action, r.src, '->', r.dst]),
          ),
        );
      }
      out('');
      out(SEMANTICS);
    });
  });

  withDataOption(
    policy
      .command('apply')
      .argument('<file.json>')
      .description('replace the default, all groups and all rules with a policy file, in one transaction'),
  ).action(async (file: string, opts: DataOptions) => {
    await withData(opts, ({ store, config }) => {
      const doc = readPolicyFile(file, config);
      const r = applyPolicy(store, doc);
      out(
        `Applied ${file}: default ${doc.default}, ${r.groups} group${r.groups === 1 ? '' : 's'}, ${r.rules} rule${r.rules === 1 ? '' : 's'}.`,
      );
      for (const w of r.warnings) note(`note: ${w}`);
    });
  });

  withDataOption(
    policy
      .command('check')
      .argument('<src>')
      .argument('<dst>')
      .description('may SRC reach DST? (and which rule decides)'),
  ).action(async (src: string, dst: string, opts: DataOptions) => {
    await withData(opts, ({ store, config }) => {
      const policy = loadPolicy(store, config);
      const d = policy.explain(src, dst);
      const why =
        d.reason === 'self'
          ? 'a user always reaches itself'
          : d.reason === 'deny-rule' || d.reason === 'allow-rule'
            ? `rule ${d.rule}`
            : d.reason === 'default'
              ? `no rule matches; default ${policy.defaultAction}`
              : 'not a valid address';
      out(`${src} -> ${dst}: ${d.allowed ? 'allowed' : 'denied'} (${why})`);
    });
  });
}
