#!/bin/sh
# Stage two of the systemd guest (init.sh, "systemd" mode): run by oomkit-test.service once
# systemd, PID 1, has reached multi-user. Like guest.sh: the kernel tests as root, their output on
# the second serial port, the exit code in the run folder, then the guest powers off. The
# journal of the boot is kept in the run folder for a failure's post-mortem.

finish() {
	journalctl -b --no-pager -o short-monotonic > /oomkit-run/journal.log 2>&1
	echo "$1" > /oomkit-run/rc
	sync
	echo o > /proc/sysrq-trigger
	sleep 30
}

# The tests' environment and run_tests (shared with the other stage two).
[ -r "$OOMKIT_REPO/test/kernel/vm/guest-tests.sh" ] || finish 125
. "$OOMKIT_REPO/test/kernel/vm/guest-tests.sh"
export OOMKIT_SYSTEMD_GUEST=1
stty -F $out raw -echo 2>/dev/null

echo "oomkit-vm: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, PID 1 $(cat /proc/1/comm) $(systemctl --version | head -1), up $(cut -d' ' -f1 /proc/uptime) s" > $out
run_tests
