#!/usr/bin/env bash
# End-to-end smoke test of the Kamailio TLS baseline and of the SIPp+stunnel
# client kit (bench/sipp), all on 127.0.0.1 with random free ports:
#
#  1. Kamailio with MD5 digest (SIPp 3.6.1 only does MD5), SIPp via stunnel:
#     a. register_auth.xml: REGISTER user0000 + user0001 with digest
#     b. uas.xml + uas_ooc.xml: user0001 registers and waits for a call
#     c. uac_invite.xml: user0000 calls user0001 (407, INVITE/200/ACK, BYE/200)
#
# usage: smoke.sh            prints PASS/FAIL per step, exit 0 only if all pass
# env:   KEEP=1  keep the work dir (logs, SIPp message traces) even on success
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$(cd "$HERE/../sipp" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/kamailio-smoke.XXXXXX)
DOMAIN=bench.test
STPID=
UASPID=
FAILS=0

free_port() {
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
stop_kamailio() {
	local pidf=$1/kamailio.pid
	if [ -f "$pidf" ]; then
		local p
		p=$(cat "$pidf")
		kill "$p" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
		rm -f "$pidf"
	fi
}
cleanup() {
	[ -n "$UASPID" ] && kill "$UASPID" 2>/dev/null
	[ -n "$STPID" ] && kill "$STPID" 2>/dev/null && wait "$STPID" 2>/dev/null
	stop_kamailio "$WORK/kam-md5"
	stop_kamailio "$WORK/kam-sha256"
	if [ "${KEEP:-0}" = 1 ] || [ "$FAILS" != 0 ]; then
		echo "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

result() { # $1 = rc, $2 = label
	if [ "$1" = 0 ]; then
		echo "PASS  $2"
	else
		echo "FAIL  $2 (rc=$1)"
		FAILS=$((FAILS + 1))
	fi
}
wait_listen() { # port
	for _ in $(seq 1 50); do
		ss -Hltn "sport = :$1" | grep -q "127.0.0.1:$1" && return 0
		sleep 0.1
	done
	return 1
}
# common SIPp options: loopback only (-i/-ci), no stdin, one TCP connection
# through stunnel (-t t1), traces into the work dir.
sipp_run() { # name, timeout (s), then sipp args
	local name=$1 tmo=$2
	shift 2
	(cd "$WORK" && exec timeout "$tmo" sipp "127.0.0.1:$SPORT" -i 127.0.0.1 -ci 127.0.0.1 -t t1 -nostdin \
		-key domain "$DOMAIN" -trace_msg -message_file "$WORK/$name.msg.log" \
		-trace_err -error_file "$WORK/$name.err.log" "$@" >"$WORK/$name.out" 2>&1)
}

KPORT=$(free_port)
SPORT=$(free_port)
echo "work dir $WORK; kamailio tls:127.0.0.1:$KPORT; stunnel 127.0.0.1:$SPORT"
echo "$(kamailio -v | head -1 | sed 's/^version: //'); $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*'); $(stunnel -version 2>&1 | grep -o '^stunnel [0-9.]*')"

# ------------------------------------------------------------- 1: MD5 + SIPp
if AUTH_ALGO=MD5 USERS=10 DEBUG=1 "$HERE/start.sh" "$KPORT" "$WORK/kam-md5" >"$WORK/start-md5.out" 2>&1; then
	result 0 "start kamailio (MD5) on tls:127.0.0.1:$KPORT"
else
	result 1 "start kamailio (MD5)"
	cat "$WORK/start-md5.out"
	exit 1
fi

"$SIPP_DIR/stunnel-client.sh" "$SPORT" "127.0.0.1:$KPORT" "$WORK/kam-md5/ca.crt" 2>"$WORK/stunnel.out" &
STPID=$!
wait_listen "$SPORT"
result $? "stunnel client 127.0.0.1:$SPORT -> tls://127.0.0.1:$KPORT (verifyChain, checkIP)"

"$SIPP_DIR/make-users.sh" 2 >"$WORK/users.csv"
printf 'SEQUENTIAL\nuser0000;pw-user0000\n' >"$WORK/caller.csv"
printf 'SEQUENTIAL\nuser0001;pw-user0001\n' >"$WORK/callee.csv"

sipp_run register 30 -sf "$SIPP_DIR/register_auth.xml" -inf "$WORK/users.csv" -auth_uri "$DOMAIN" \
	-m 2 -recv_timeout 5000
result $? "SIPp register_auth.xml: 2 x REGISTER/401/REGISTER/200"
kamcmd -s "unix:$WORK/kam-md5/kamailio_ctl" ul.dump >"$WORK/ul.dump" 2>&1
grep -q "AoR: user0000" "$WORK/ul.dump" && grep -q "AoR: user0001" "$WORK/ul.dump" &&
	grep -q "Received: sip:127.0.0.1:[0-9]*;transport=tls" "$WORK/ul.dump"
result $? "kamailio usrloc has user0000/user0001 with received=<TLS source>"

# callee: registers, answers 1 call, unregisters
(sipp_run uas 40 -sf "$SIPP_DIR/uas.xml" -oocsf "$SIPP_DIR/uas_ooc.xml" -inf "$WORK/callee.csv" \
	-auth_uri "$DOMAIN" -m 1 -set calls 1 -recv_timeout 10000 -timeout 30 -timeout_error
echo $? >"$WORK/uas.rc") &
UASPID=$!
# wait for the callee's 200 OK to its REGISTER
for _ in $(seq 1 100); do grep -q "^SIP/2.0 200" "$WORK/uas.msg.log" 2>/dev/null && break; sleep 0.1; done

sipp_run uac 30 -sf "$SIPP_DIR/uac_invite.xml" -inf "$WORK/caller.csv" -s user0001 \
	-auth_uri "user0001@$DOMAIN" -d 500 -m 1 -recv_timeout 5000
result $? "SIPp uac_invite.xml: user0000 -> user0001 INVITE/407/INVITE/180/200/ACK/BYE/200"
wait "$UASPID"
UASPID=
result "$(cat "$WORK/uas.rc" 2>/dev/null || echo 99)" \
	"SIPp uas.xml+uas_ooc.xml: user0001 REGISTER, got INVITE/ACK/BYE over its own connection, unREGISTER"
grep -q "^ACK sip:user0001@127.0.0.1:[0-9]*;alias=127.0.0.1~[0-9]*~3;transport=tls" "$WORK/uac.msg.log"
result $? "in-dialog ACK/BYE routed via Contact ;alias= (add_contact_alias/handle_ruri_alias)"

kill "$STPID" 2>/dev/null
wait "$STPID" 2>/dev/null
STPID=
stop_kamailio "$WORK/kam-md5"

# SHA-256 Kamailio with sip.js-style clients is exercised by bench/sip-load.ts, through the
# project's own SIP test client (packages/server/src/testing/sip-client.ts).

if [ "$FAILS" = 0 ]; then
	echo "PASS"
else
	echo "FAIL ($FAILS step(s) failed)"
fi
exit $((FAILS != 0))
