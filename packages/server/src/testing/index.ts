export { startTestServer, TEST_PASSWORD, type TestServer, type TestServerOptions } from './harness.js';
export { SipTestClient, type ClientOptions, type Dialog, type RequestOptions } from './sip-client.js';
export { testCertificateRequest } from './csr.js';
