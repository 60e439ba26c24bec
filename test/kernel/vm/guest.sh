#!/bin/sh
# Stage two of the guest, run as PID 1 after switch_root (from /oomkit-run/job.sh, which sets
# OOMKIT_REPO, OOMKIT_MODULES, OOMKIT_HOG; /oomkit-run/test-args holds the arguments of
# `node --test`, one a line). Runs the kernel tests as root
# with their output on the second serial port, records the exit code in the run folder, and
# always powers the guest off.
BB=/bin/busybox

finish() {
	echo "$1" > /oomkit-run/rc
	$BB sync
	$BB poweroff -f
	echo o > /proc/sysrq-trigger
	$BB sleep 30
}

# The tests' environment and run_tests (shared with the other stage two).
[ -r "$OOMKIT_REPO/test/kernel/vm/guest-tests.sh" ] || finish 125
. "$OOMKIT_REPO/test/kernel/vm/guest-tests.sh"
$BB stty -F $out raw -echo 2>/dev/null

kver=$($BB uname -r)
if [ -n "$OOMKIT_MODULES" ]; then
	$BB mkdir -p "/lib/modules/$kver" && $BB mount --bind "$OOMKIT_MODULES" "/lib/modules/$kver"
fi
$BB hostname oomkit-vm
$BB ip link set lo up 2>/dev/null

echo "oomkit-vm: kernel $kver, $($BB nproc) CPUs, $($BB awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB" > $out
run_tests
