#!/bin/sh
# Stage two of the guest, run as PID 1 after switch_root (from /oomkit-run/job.sh, which sets
# OOMKIT_REPO, OOMKIT_MODULES, OOMKIT_HOG; /oomkit-run/test-args holds the arguments of
# `node --test`, one a line). Runs the kernel tests as root
# with their output on the second serial port, records the exit code in the run folder, and
# always powers the guest off.
BB=/bin/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 NO_COLOR=1 FORCE_COLOR=0 OOMKIT_IN_VM=1

out=/dev/ttyS1
$BB stty -F $out raw -echo 2>/dev/null

finish() {
	echo "$1" > /oomkit-run/rc
	$BB sync
	$BB poweroff -f
	echo o > /proc/sysrq-trigger
	$BB sleep 30
}

kver=$($BB uname -r)
if [ -n "$OOMKIT_MODULES" ]; then
	$BB mkdir -p "/lib/modules/$kver" && $BB mount --bind "$OOMKIT_MODULES" "/lib/modules/$kver"
fi
$BB hostname oomkit-vm
$BB ip link set lo up 2>/dev/null

echo "oomkit-vm: kernel $kver, $($BB nproc) CPUs, $($BB awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB" > $out
cd "$OOMKIT_REPO" || finish 125
set -f
IFS='
'
# shellcheck disable=SC2046 # one argument a line, no globbing
set -- $(cat /oomkit-run/test-args)
unset IFS
node --test --test-reporter=spec --test-concurrency=1 "$@" > $out 2>&1 < /dev/null
finish $?
