import { startTestServer } from '../testing/index.js';
const t = await startTestServer();
for (const n of ['user0000','user0001','user0002']) t.admin.users.add(n, { realm: t.domain, password: `pw-${n}`, allowMd5: true, md5Only: true });
console.log(JSON.stringify({ port: t.sip.port, dataDir: t.dataDir, domain: t.domain }));
setInterval(() => { const b = ['user0000','user0001','user0002'].map(u => t.server.context.location.bindings(u).length); console.error('bindings', b.join(',')); }, 2000);
process.on('SIGTERM', async () => { for (const l of t.logs.slice(-200)) console.error(JSON.stringify(l)); await t.close(); process.exit(0); });
