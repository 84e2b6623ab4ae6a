#!/bin/bash
# burst.sh LABEL N G [dl args...]  -- bounded run: destroy listener, then G parallel generators of N connect+close each on 127.0.0.1:31000+g
label=$1; n=$2; g=$3; shift 3
($DLPFX ./dl -t 60 -i 3000 -p 31000:$((31000+g-1)) "$@" > burst_$label.out 2> burst_$label.err) & dl=$!
for i in $(seq 50); do grep -q READY burst_$label.err 2>/dev/null && break; sleep 0.1; done
pids=""; for k in $(seq 0 $((g-1))); do (./gen conn -n $n -P $((31000+k)) -T 30 > burst_$label.gen$k) & pids="$pids $!"; done
wait $pids; wait $dl
echo "== $label"; grep -v READY burst_$label.err | grep -v "^ENOBUFS" | grep -v join; echo "ENOBUFS lines: $(grep -c ^ENOBUFS burst_$label.err)"; grep ^ENOBUFS burst_$label.err | head -3; cat burst_$label.gen* | grep GEN; cat burst_$label.out
