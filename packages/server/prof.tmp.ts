import { parseMessage } from './src/sip/index.js';
const sdp = 'v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n';
const m = 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK776asdhds;rport\r\nVia: SIP/2.0/TLS proxy.example.com:5061;branch=z9hG4bK776asdhdsaaa\r\nRecord-Route: <sip:proxy.example.com;lr>\r\nMax-Forwards: 70\r\nTo: Bob <sip:bob@example.com>\r\nFrom: "Alice" <sip:alice@example.com>;tag=1928301774\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\nCSeq: 314159 INVITE\r\nContact: <sip:alice@pc33.example.com;transport=tls>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"\r\nUser-Agent: Tsunagu/0.1\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\nSupported: outbound, gruu\r\nContent-Type: application/sdp\r\nContent-Length: 150\r\n\r\n' + sdp;
const b = Buffer.from(m);
console.log(b.length);
for (let k = 0; k < 5; k++) {
let t = process.hrtime.bigint();
for (let i = 0; i < 200000; i++) parseMessage(b);
console.log('parse ns', Number(process.hrtime.bigint() - t) / 200000);
}
