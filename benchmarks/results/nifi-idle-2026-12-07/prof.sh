#!/bin/bash
# prof.sh PID SECONDS OUT: async-profiler cpu 2 ms on a JVM, collapsed stacks with threads, and its CPU
PID=$1; S=$2; OUT=$3; JCMD=/usr/lib/jvm/temurin-25-jdk-amd64/bin/jcmd; L=/tmp/ap/linux-x64/libasyncProfiler.so
t0=$(awk '{print $14+$15}' /proc/$PID/stat)
$JCMD $PID JVMTI.agent_load $L '"start,event=cpu,interval=2ms,threads"' >/dev/null
sleep $S
$JCMD $PID JVMTI.agent_load $L "\"stop,file=$OUT,collapsed,threads\"" >/dev/null
t1=$(awk '{print $14+$15}' /proc/$PID/stat)
echo "$PID cores $(python3 -c "print(round(($t1-$t0)/100/$S,3))") over ${S}s" | tee $OUT.cpu
