#!/usr/bin/env bash
# Start Kamailio 5.6 as a TLS-only registrar/proxy baseline on 127.0.0.1:PORT.
#
# usage: start.sh PORT WORKDIR
#
# Everything (CA + server cert, sqlite subscriber DB, rendered kamailio.cfg,
# pid file, log, ctl socket) goes into WORKDIR. Prints KEY=VALUE lines
# (PID, CAFILE, ...) on stdout once the TLS port is listening.
#
# environment (all optional):
#   USERS=10000          number of subscribers user0000..user<USERS-1>,
#                        password "pw-<user>" (number zero-padded to >= 4 digits)
#   DOMAIN=bench.test    SIP domain == digest realm
#   AUTH_ALGO=SHA-256    digest algorithm: SHA-256 | MD5 (SIPp 3.6 needs MD5)
#   SHM_MB=1024          shared memory (-m); ~10k idle TLS conns need ~350 MB
#   PKG_MB=16            private memory per process (-M)
#   DEBUG=1              kamailio debug level (1 = notice, 3 = debug)
#   CHILDREN=1           TLS/SIP worker processes (tcp_children). 2 would match
#                        the 2 cores, but Debian's 5.6.3 + OpenSSL 3 crashes with
#                        more than one TLS worker (see kamailio.cfg.tmpl)
#   FOREGROUND=0         1: exec kamailio in the foreground (-DD -E, logs to stderr)
#   TLS_CERT, TLS_KEY    use this cert/key instead of generating a CA + cert
#                        (e.g. the same cert as our server, for like-for-like)
#   CERT_KEY_ALG=rsa     rsa (2048, like our server's CA) | ec (P-256) for the
#                        generated keys; the key type dominates handshake cost
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 PORT WORKDIR" >&2
	exit 2
fi
PORT=$1
WORKDIR=$2
USERS=${USERS:-10000}
DOMAIN=${DOMAIN:-bench.test}
AUTH_ALGO=${AUTH_ALGO:-SHA-256}
SHM_MB=${SHM_MB:-1024}
PKG_MB=${PKG_MB:-16}
DEBUG=${DEBUG:-1}
CHILDREN=${CHILDREN:-1}
FOREGROUND=${FOREGROUND:-0}
CERT_KEY_ALG=${CERT_KEY_ALG:-rsa}
HERE=$(cd "$(dirname "$0")" && pwd)

case $AUTH_ALGO in SHA-256 | MD5) ;; *)
	echo "AUTH_ALGO must be SHA-256 or MD5" >&2
	exit 2
	;;
esac
case $PORT in '' | *[!0-9]*)
	echo "bad PORT: $PORT" >&2
	exit 2
	;;
esac

mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
cd "$WORKDIR"

if [ -f kamailio.pid ] && kill -0 "$(cat kamailio.pid)" 2>/dev/null; then
	echo "kamailio already running in $WORKDIR (pid $(cat kamailio.pid))" >&2
	exit 1
fi

# ---------------------------------------------------------------- TLS cert
newkey() { # $1 = output file
	case $CERT_KEY_ALG in
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
	*)
		echo "CERT_KEY_ALG must be rsa or ec" >&2
		exit 2
		;;
	esac
}
if [ -n "${TLS_CERT:-}" ]; then
	cp "$TLS_CERT" server.crt
	cp "${TLS_KEY:?TLS_KEY required with TLS_CERT}" server.key
	rm -f ca.crt
elif [ ! -s server.crt ] || [ ! -s ca.crt ]; then
	# Small private CA + server cert, so clients (stunnel) can verifyChain.
	newkey ca.key
	openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=Tsunagu bench CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out ca.crt
	newkey server.key
	openssl req -new -key server.key -subj "/CN=$DOMAIN" -out server.csr
	cat >server.ext <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$DOMAIN,DNS:localhost,IP:127.0.0.1,IP:::1
EOF
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 825 \
		-extfile server.ext -out server.crt 2>/dev/null
	rm -f server.csr server.ext ca.srl
fi
chmod 600 server.key

# ---------------------------------------------------------------- subscriber DB
# Standard Kamailio schema from the kamailio-sqlite-modules package:
# standard-create.sql (version table) + auth_db-create.sql (subscriber).
# ha1/ha1b are hashed with AUTH_ALGO; the plaintext password column stays empty.
SCHEMA_DIR=/usr/share/kamailio/db_sqlite
rm -f kamailio.sqlite
{
	cat "$SCHEMA_DIR/standard-create.sql" "$SCHEMA_DIR/auth_db-create.sql"
	USERS=$USERS DOMAIN=$DOMAIN AUTH_ALGO=$AUTH_ALGO node -e '
const { createHash } = require("crypto");
const n = +process.env.USERS, realm = process.env.DOMAIN;
const alg = process.env.AUTH_ALGO === "SHA-256" ? "sha256" : "md5";
const h = (s) => createHash(alg).update(s).digest("hex");
const out = ["BEGIN;"];
for (let i = 0; i < n; i++) {
  const u = "user" + String(i).padStart(4, "0"), pw = "pw-" + u;
  out.push(`INSERT INTO subscriber (username,domain,password,ha1,ha1b) VALUES (` +
    `\x27${u}\x27,\x27${realm}\x27,\x27\x27,\x27${h(`${u}:${realm}:${pw}`)}\x27,` +
    `\x27${h(`${u}@${realm}:${realm}:${pw}`)}\x27);`);
}
out.push("COMMIT;");
console.log(out.join("\n"));'
} | sqlite3 -bail kamailio.sqlite

# ---------------------------------------------------------------- config
# Kamailio raises RLIMIT_NOFILE itself (open_files_limit) but cannot go
# above the hard limit without CAP_SYS_RESOURCE.
NOFILE=$(ulimit -Hn)
if [ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 40000 ]; then NOFILE=40000; fi
if [ "$NOFILE" -lt 13000 ]; then
	echo "warning: hard RLIMIT_NOFILE=$NOFILE < 13000; 12000 connections will not fit" >&2
fi
sed -e "s|@@PORT@@|$PORT|g" -e "s|@@WORKDIR@@|$WORKDIR|g" -e "s|@@DOMAIN@@|$DOMAIN|g" \
	-e "s|@@ALGO@@|$AUTH_ALGO|g" -e "s|@@DEBUG@@|$DEBUG|g" -e "s|@@NOFILE@@|$NOFILE|g" \
	-e "s|@@CHILDREN@@|$CHILDREN|g" \
	"$HERE/kamailio.cfg.tmpl" >kamailio.cfg

mkdir -p run
# -Y: runtime dir inside WORKDIR (no /run/kamailio); -a no: no auto aliases.
KAM=(kamailio -f "$WORKDIR/kamailio.cfg" -Y "$WORKDIR/run" -m "$SHM_MB" -M "$PKG_MB" -a no -E -DD -P "$WORKDIR/kamailio.pid" -w "$WORKDIR")
"${KAM[@]}" -c >kamailio-check.log 2>&1 || {
	cat kamailio-check.log >&2
	exit 1
}

if [ "$FOREGROUND" = 1 ]; then
	exec "${KAM[@]}"
fi

rm -f kamailio.pid
nohup "${KAM[@]}" >kamailio.log 2>&1 </dev/null &
KPID=$!
for _ in $(seq 1 100); do
	if ! kill -0 "$KPID" 2>/dev/null; then
		echo "kamailio exited during startup; log:" >&2
		tail -n 30 kamailio.log >&2
		exit 1
	fi
	if ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q "127.0.0.1:$PORT"; then
		break
	fi
	sleep 0.1
done
if ! ss -Hltn "sport = :$PORT" | grep -q "127.0.0.1:$PORT"; then
	echo "kamailio not listening on 127.0.0.1:$PORT after 10s" >&2
	kill "$KPID" 2>/dev/null || true
	exit 1
fi
echo "$KPID" >kamailio.pid
echo "PID=$KPID"
echo "LISTEN=tls:127.0.0.1:$PORT"
echo "CAFILE=$WORKDIR/$([ -f ca.crt ] && echo ca.crt || echo server.crt)"
echo "DOMAIN=$DOMAIN"
echo "AUTH_ALGO=$AUTH_ALGO"
echo "USERS=$USERS"
echo "LOG=$WORKDIR/kamailio.log"
echo "CTL=unix:$WORKDIR/kamailio_ctl"
