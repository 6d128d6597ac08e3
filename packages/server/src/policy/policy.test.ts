import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseConfig } from '../config/config.js';
import type { Config } from '../config/config.js';
import { openStore } from '../store/store.js';
import type { Store } from '../store/store.js';
import { addGroupMembers, addRule, loadPolicy, rulesNamingUser } from './admin.js';
import { PolicyError } from './errors.js';
import { applyPolicy, exportPolicy, parsePolicyFile, readPolicyFile } from './file.js';
import { Policy, parseAor } from './policy.js';
import type { PolicyModel, PolicyRule } from './policy.js';
import { normaliseSelector, parseSelector } from './selector.js';

const D = 'example.org';

function policy(def: PolicyModel['default'], groups: Record<string, string[]>, rules: PolicyRule[]): Policy {
  return Policy.compile({ default: def, groups: new Map(Object.entries(groups)), rules }, { localDomain: D });
}
const allow = (src: string, dst: string): PolicyRule => ({ action: 'allow', src, dst });
const deny = (src: string, dst: string): PolicyRule => ({ action: 'deny', src, dst });

describe('selectors', () => {
  it('parses every form and normalises the local domain away', () => {
    assert.deepEqual(parseSelector('*'), { kind: 'any' });
    assert.deepEqual(parseSelector('Bob'), { kind: 'user', user: 'bob' });
    assert.deepEqual(parseSelector('bob@B.example', D), { kind: 'user', user: 'bob', domain: 'b.example' });
    assert.deepEqual(parseSelector('bob@example.org', D), { kind: 'user', user: 'bob' });
    assert.deepEqual(parseSelector('group:Eng'), { kind: 'group', group: 'eng' });
    assert.deepEqual(parseSelector('domain:b.example'), { kind: 'domain', domain: 'b.example' });
    assert.equal(normaliseSelector('BOB@EXAMPLE.ORG', D), 'bob');
  });
  it('rejects anything else with the list of allowed forms', () => {
    for (const bad of [
      '',
      '**',
      'a b',
      'group:',
      'group:a b',
      'domain:',
      'domain:x_y',
      'bob@',
      '@b.example',
      'user:bob',
      'bob@b@c',
    ]) {
      assert.throws(
        () => parseSelector(bad),
        (e: unknown) => e instanceof PolicyError && e.message.startsWith(`invalid selector '${bad}'`),
        bad,
      );
    }
    assert.throws(
      () => parseSelector('x!'),
      /expected \*, a user \(bob\), a user of another domain \(bob@b\.example\), group:NAME or domain:DOMAIN/,
    );
  });
});

describe('parseAor', () => {
  it('accepts names, AORs and SIP URIs', () => {
    assert.deepEqual(parseAor('alice', D), { user: 'alice', domain: D, local: true, key: 'alice' });
    assert.deepEqual(parseAor('Alice@Example.org', D)?.key, 'alice');
    assert.deepEqual(parseAor('<sips:alice@example.org:5061;transport=tls>', D)?.key, 'alice');
    assert.deepEqual(parseAor('sip:bob@b.example', D), {
      user: 'bob',
      domain: 'b.example',
      local: false,
      key: 'bob@b.example',
    });
    assert.equal(parseAor('sip:bob@[2001:db8::1]:5061', D)?.domain, '[2001:db8::1]');
    for (const bad of ['', '@example.org', 'alice@', 'a b@example.org', 'Ali ce', '-x@example.org'])
      assert.equal(parseAor(bad, D), undefined, bad);
  });
});

describe('Policy semantics', () => {
  it('applies the default when no rule matches', () => {
    assert.equal(policy('allow-all', {}, []).canReach('alice', 'bob'), true);
    assert.equal(policy('deny-all', {}, []).canReach('alice', 'bob'), false);
  });
  it('a user always reaches itself, even when denied everything', () => {
    const p = policy('deny-all', {}, [deny('alice', '*'), deny('*', 'alice')]);
    assert.deepEqual(p.explain('alice', 'sip:alice@example.org'), { allowed: true, reason: 'self' });
  });
  it('is directional', () => {
    const p = policy('deny-all', {}, [allow('alice', 'bob')]);
    assert.equal(p.canReach('alice', 'bob'), true);
    assert.equal(p.canReach('bob', 'alice'), false);
  });
  it('a deny wins over any allow, wherever it stands', () => {
    for (const rules of [
      [allow('group:eng', 'group:eng'), deny('carol', '*')],
      [deny('carol', '*'), allow('group:eng', 'group:eng')],
    ]) {
      const p = policy('allow-all', { eng: ['alice', 'bob', 'carol'] }, rules);
      assert.equal(p.canReach('alice', 'bob'), true);
      assert.equal(p.canReach('carol', 'bob'), false);
      assert.equal(p.canReach('bob', 'carol'), true, 'deny carol → * does not stop others reaching carol');
    }
    const p = policy('allow-all', { eng: ['alice', 'carol'] }, [
      allow('group:eng', 'group:eng'),
      deny('carol', '*'),
    ]);
    assert.deepEqual(p.explain('carol', 'alice'), { allowed: false, reason: 'deny-rule', rule: 2 });
    assert.deepEqual(p.explain('alice', 'carol'), { allowed: true, reason: 'allow-rule', rule: 1 });
    assert.deepEqual(p.explain('dave', 'erin'), { allowed: true, reason: 'default' });
  });
  it('matches groups, domains, remote users and *', () => {
    const p = policy('deny-all', { eng: ['alice', 'bob@b.example'], ops: ['olga'] }, [
      allow('group:eng', 'group:ops'),
      allow('domain:b.example', 'alice'),
      allow('olga', 'domain:example.org'),
      allow('zed@c.example', '*'),
      deny('*', 'secret'),
    ]);
    assert.equal(p.canReach('alice', 'olga'), true);
    assert.equal(p.canReach('sip:bob@b.example', 'sip:olga@example.org'), true, 'remote group member');
    assert.equal(p.canReach('bob', 'olga'), false, 'local bob is not bob@b.example');
    assert.equal(p.canReach('anyone@b.example', 'alice@example.org'), true, 'domain selector');
    assert.equal(p.canReach('anyone@b.example', 'olga'), false);
    assert.equal(p.canReach('olga', 'alice'), true, 'domain:<local> = every local user');
    assert.equal(p.canReach('olga', 'bob@b.example'), false);
    assert.equal(p.canReach('zed@c.example', 'bob@b.example'), true);
    assert.equal(p.canReach('zed@c.example', 'secret'), false);
  });
  it('tells which peer domains a user may reach anyone in', () => {
    const p = policy('deny-all', { eng: ['alice', 'bob@b.example'], ext: ['zoe@c.example'] }, [
      allow('group:eng', 'group:eng'),
      allow('carol', 'domain:d.example'),
      allow('carol', 'group:ext'),
      deny('carol', 'domain:c.example'),
      allow('dave', 'erin@e.example'),
    ]);
    assert.equal(p.mayReachDomain('alice', 'b.example'), true, 'a group with a member there');
    assert.equal(p.mayReachDomain('alice', 'c.example'), false, 'nothing names c.example for alice');
    assert.equal(p.mayReachDomain('carol', 'd.example'), true, 'domain selector');
    assert.equal(p.mayReachDomain('carol', 'c.example'), false, 'a deny covering the domain wins');
    assert.equal(p.mayReachDomain('dave', 'E.example'), true, 'a remote user');
    assert.equal(p.mayReachDomain('dave', 'b.example'), false);
    assert.equal(p.mayReachDomain('not an aor', 'b.example'), false);

    const open = policy('allow-all', {}, [deny('mallory', 'domain:b.example'), deny('x', 'bob@b.example')]);
    assert.equal(open.mayReachDomain('alice', 'b.example'), true, 'the default allows');
    assert.equal(open.mayReachDomain('mallory', 'b.example'), false);
    assert.equal(open.mayReachDomain('x', 'b.example'), true, 'denying one user there leaves the others');
    assert.equal(policy('allow-all', {}, [deny('*', '*')]).mayReachDomain('alice', 'b.example'), false);
  });
  it('never reaches an address it cannot parse', () => {
    const p = policy('allow-all', {}, []);
    assert.deepEqual(p.explain('alice', 'not an aor'), { allowed: false, reason: 'invalid-address' });
    assert.equal(p.canReach('', 'bob'), false);
  });
  it('lists visible peers without the user itself', () => {
    const p = policy('deny-all', { eng: ['alice', 'bob', 'carol'] }, [
      allow('group:eng', 'group:eng'),
      deny('alice', 'carol'),
    ]);
    assert.deepEqual(p.visiblePeers('alice', ['alice', 'bob', 'carol', 'dave']), ['bob']);
    assert.deepEqual(
      p.visiblePeers('sip:carol@example.org', ['alice@example.org', 'bob@example.org', 'carol@example.org']),
      ['alice@example.org', 'bob@example.org'],
    );
    assert.deepEqual(p.visiblePeers('dave', ['alice', 'bob']), []);
  });
  it('refuses to compile a rule naming an unknown group or an invalid selector', () => {
    assert.throws(() => policy('deny-all', {}, [allow('group:nope', '*')]), /rule 1: unknown group 'nope'/);
    assert.throws(
      () => policy('deny-all', {}, [allow('*', '*'), deny('a b', '*')]),
      /rule 2: invalid selector 'a b'/,
    );
  });
  it('agrees with a naive reading of the rules on a large rule set (1000 rules, 500 users)', () => {
    // Speed is measured in bench/, not here; this checks the compiled matchers against the definition.
    const members = Array.from({ length: 500 }, (_, i) => `u${i}`);
    const rules: PolicyRule[] = [];
    for (let i = 0; i < 1000; i++)
      rules.push(
        i % 10 === 0 ? deny(`u${i % 500}`, `group:g${i % 7}`) : allow(`group:g${i % 7}`, `u${(i * 7) % 500}`),
      );
    const groups = Object.fromEntries(
      Array.from({ length: 7 }, (_, g) => [`g${g}`, members.filter((_, i) => i % 7 === g)]),
    );
    const p = policy('deny-all', groups, rules);
    const matches = (sel: string, user: string) =>
      sel.startsWith('group:') ? groups[sel.slice(6)]!.includes(user) : sel === user;
    const naive = (src: string, dst: string) => {
      if (src === dst) return true;
      if (rules.some((r) => r.action === 'deny' && matches(r.src, src) && matches(r.dst, dst))) return false;
      return rules.some((r) => r.action === 'allow' && matches(r.src, src) && matches(r.dst, dst));
    };
    let allowed = 0;
    for (let i = 0; i < 5000; i++) {
      const [src, dst] = [`u${i % 500}`, `u${(i * 13) % 500}`];
      assert.equal(p.canReach(src, dst), naive(src, dst), `${src} → ${dst}`);
      if (naive(src, dst)) allowed++;
    }
    assert.ok(allowed > 0 && allowed < 5000, 'the sample exercises both answers');
  });
});

describe('policy file', () => {
  const cfg = { domain: D };
  it('parses and normalises a valid file', () => {
    const doc = parsePolicyFile(
      JSON.stringify({
        default: 'deny-all',
        groups: { Eng: ['Bob', 'alice@example.org', 'carol@b.example', 'bob'] },
        rules: [
          { allow: 'group:eng', to: 'group:eng' },
          { deny: 'Carol@example.org', to: '*' },
        ],
      }),
      cfg,
    );
    assert.deepEqual(doc, {
      default: 'deny-all',
      groups: new Map([['eng', ['alice', 'bob', 'carol@b.example']]]),
      rules: [
        { action: 'allow', src: 'group:eng', dst: 'group:eng' },
        { action: 'deny', src: 'carol', dst: '*' },
      ],
    });
    assert.deepEqual(parsePolicyFile('{"default":"allow-all"}', cfg), {
      default: 'allow-all',
      groups: new Map(),
      rules: [],
    });
  });
  it('reports precise errors', () => {
    const cases: [string, string][] = [
      ['{', 'p.json: not valid JSON'],
      ['[]', 'p.json: must be an object (got an array)'],
      ['{}', 'p.json: default is required'],
      ['{"default":"allow"}', 'p.json: default must be one of "allow-all", "deny-all" (got "allow")'],
      ['{"default":"deny-all","rule":[]}', "p.json: unknown key 'rule'"],
      [
        '{"default":"deny-all","rules":[{"allow":"a","to":"b","from":"c"}]}',
        "p.json: unknown key 'rules[0].from'",
      ],
      ['{"default":"deny-all","rules":[{"allow":"a"}]}', 'p.json: rules[0].to is required'],
      [
        '{"default":"deny-all","rules":[{"to":"a"}]}',
        'p.json: rules[0] must have exactly one of "allow" or "deny"',
      ],
      [
        '{"default":"deny-all","rules":[{"allow":"a","deny":"b","to":"c"}]}',
        'p.json: rules[0] must have exactly one of "allow" or "deny"',
      ],
      [
        '{"default":"deny-all","rules":[{"allow":"*","to":"*"},{"allow":"a b","to":"*"}]}',
        'p.json: rules[1].allow must be *, a user (bob)',
      ],
      [
        '{"default":"deny-all","rules":[{"allow":"*","to":"group:ops"}]}',
        `p.json: rules[0].to names the unknown group 'ops' (define it under "groups")`,
      ],
      [
        '{"default":"deny-all","groups":{"eng":["alice","group:x"]}}',
        'p.json: groups.eng[1] must be a user (bob) or a user of another domain (bob@b.example) (got "group:x")',
      ],
      [
        '{"default":"deny-all","groups":{"eng team":[]}}',
        'p.json: groups.eng team is not a valid group name',
      ],
      [
        '{"default":"deny-all","groups":{"eng":"alice"}}',
        'p.json: groups.eng must be an array (got "alice")',
      ],
      ['{"default":"deny-all","groups":{"eng":[],"ENG":[]}}', "p.json: groups.ENG repeats the group 'eng'"],
    ];
    for (const [text, expected] of cases) {
      assert.throws(
        () => parsePolicyFile(text, cfg, 'p.json'),
        (e: unknown) => e instanceof PolicyError && e.message.startsWith(expected),
        `${text} → ${expected}`,
      );
    }
  });
  it('reads files with a clear error for a missing one', () => {
    assert.throws(() => readPolicyFile('/nonexistent/p.json', cfg), /\/nonexistent\/p\.json: no such file/);
  });
});

describe('policy in the store', () => {
  let dir: string;
  let store: Store;
  let config: Config;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-policy-'));
    store = openStore(path.join(dir, 'tsunagu.db'));
    config = parseConfig({ version: 1, domain: D, hosts: ['localhost'], policyDefault: 'allow-all' });
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads the default from the database, falling back to config.json', () => {
    assert.equal(loadPolicy(store, config).defaultAction, 'allow-all');
    store.settings.setPolicyDefault('deny-all');
    assert.equal(loadPolicy(store, config).defaultAction, 'deny-all');
  });
  it('apply replaces default, groups and rules; export reads back the same file', () => {
    store.users.add('alice', { realm: D });
    addGroupMembers(store, config, 'old', ['zed']);
    addRule(store, config, 'allow', 'group:old', '*');
    const doc = parsePolicyFile(
      JSON.stringify({
        default: 'deny-all',
        groups: { eng: ['alice', 'bob'] },
        rules: [
          { allow: 'group:eng', to: 'group:eng' },
          { deny: 'carol', to: '*' },
        ],
      }),
      config,
    );
    const r = applyPolicy(store, doc);
    assert.deepEqual(r, {
      groups: 1,
      rules: 2,
      warnings: [
        "group 'eng' names 'bob', who is not a user (yet)",
        "rule 2 names 'carol', who is not a user (yet)",
      ],
    });
    const exported = exportPolicy(store, config);
    assert.deepEqual(exported, {
      default: 'deny-all',
      groups: { eng: ['alice', 'bob'] },
      rules: [
        { allow: 'group:eng', to: 'group:eng' },
        { deny: 'carol', to: '*' },
      ],
    });
    assert.deepEqual(parsePolicyFile(JSON.stringify(exported), config), doc, 'round trip');
    const p = loadPolicy(store, config);
    assert.equal(p.canReach('alice', 'bob'), true);
    assert.equal(p.canReach('alice', 'zed'), false);
  });
  it('an invalid file changes nothing', () => {
    addGroupMembers(store, config, 'eng', ['alice']);
    addRule(store, config, 'allow', 'group:eng', '*');
    store.settings.setPolicyDefault('allow-all');
    const before = exportPolicy(store, config);
    assert.throws(
      () => parsePolicyFile('{"default":"deny-all","rules":[{"allow":"group:x","to":"*"}]}', config),
      PolicyError,
    );
    // even a document that fails half-way through the transaction leaves everything as it was
    assert.throws(() =>
      applyPolicy(store, {
        default: 'deny-all',
        groups: new Map([
          ['ok', ['a']],
          ['bad', ['not valid!']],
        ]),
        rules: [],
      }),
    );
    assert.deepEqual(exportPolicy(store, config), before);
  });
  it('addRule normalises selectors and refuses unknown groups', () => {
    const r = addRule(store, config, 'deny', 'Carol@Example.org', 'domain:B.example');
    assert.deepEqual([r.position, r.src, r.dst], [1, 'carol', 'domain:b.example']);
    assert.throws(
      () => addRule(store, config, 'allow', 'group:nope', '*'),
      /unknown group 'nope': create it first with `tsunagu-server group add nope MEMBER\.\.\.`/,
    );
    assert.throws(() => addRule(store, config, 'allow', 'a b', '*'), /invalid selector 'a b'/);
    assert.deepEqual(rulesNamingUser(store, 'carol'), [1]);
    assert.throws(() => addGroupMembers(store, config, 'g', ['*']), /invalid group member '\*'/);
    assert.deepEqual(addGroupMembers(store, config, 'g', ['bob@example.org']), {
      created: true,
      added: ['bob'],
    });
  });
});
