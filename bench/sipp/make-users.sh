#!/usr/bin/env bash
# Print a SIPp -inf users file: SEQUENTIAL, then "user;password" lines.
# usage: make-users.sh COUNT [FIRST=0] > users.csv
#   users user0000.. (number zero-padded to >= 4 digits), password "pw-<user>"
#   (the convention of bench/kamailio/start.sh; override with PREFIX/PWPREFIX env).
set -euo pipefail
COUNT=${1:?usage: make-users.sh COUNT [FIRST]}
FIRST=${2:-0}
PREFIX=${PREFIX:-user}
PWPREFIX=${PWPREFIX:-pw-}
LAST=$((FIRST + COUNT - 1))
echo SEQUENTIAL
for ((i = FIRST; i <= LAST; i++)); do
	u=$(printf "%s%04d" "$PREFIX" "$i")
	echo "$u;$PWPREFIX$u"
done
