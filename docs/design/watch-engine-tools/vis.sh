#!/bin/bash
# vis.sh PERIOD_MS LIFE_US N_PER_GEN GENS  -> fraction of connections seen ESTABLISHED by an unprivileged poller
P=$1; L=$2; N=$3; G=$4
T=$(python3 -c "print($L*$N/1e6+1.5)")
(setpriv --reuid=65534 --regid=65534 --clear-groups ./dump poll -P $P -T $T -p 31100 -o /tmp/vis_seen.txt > /tmp/vis_poll.txt) & pp=$!
sleep 0.3; pids=""
for k in $(seq 0 $((G-1))); do (./gen conn -n $N -l $L -P $((31100+k)) -T 60 -o /tmp/vis_gen$k.log > /dev/null) & pids="$pids $!"; done
wait $pids; wait $pp
cat /tmp/vis_gen*.log | awk '{print $1}' | sort -u > /tmp/vis_all.txt
tot=$(wc -l < /tmp/vis_all.txt); seen=$(comm -12 /tmp/vis_all.txt <(sort -u /tmp/vis_seen.txt) | wc -l)
echo "period=${P}ms life=$((L/1000))ms conns=$tot seen=$seen frac=$(python3 -c "print(round($seen/$tot,3))") theory=$(python3 -c "print(round(min(1,$L/1000/$P),3))") | $(cat /tmp/vis_poll.txt)"
rm -f /tmp/vis_gen*.log
