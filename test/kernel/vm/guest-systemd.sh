#!/bin/sh
# Stage two of the systemd guest (init.sh, "systemd" mode): run by oomkit-test.service once
# systemd, PID 1, has reached multi-user. Like guest.sh: the kernel tests as root, their output on
# the second serial port, the exit code in the run folder, then the guest powers off. The
# journal of the boot is kept in the run folder for a failure's post-mortem.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 NO_COLOR=1 FORCE_COLOR=0 OOMKIT_IN_VM=1 OOMKIT_SYSTEMD_GUEST=1

out=/dev/ttyS1
stty -F $out raw -echo 2>/dev/null

finish() {
	journalctl -b --no-pager -o short-monotonic > /oomkit-run/journal.log 2>&1
	echo "$1" > /oomkit-run/rc
	sync
	echo o > /proc/sysrq-trigger
	sleep 30
}

echo "oomkit-vm: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, PID 1 $(cat /proc/1/comm) $(systemctl --version | head -1), up $(cut -d' ' -f1 /proc/uptime) s" > $out
cd "$OOMKIT_REPO" || finish 125
set -f
IFS='
'
# shellcheck disable=SC2046 # one argument a line, no globbing
set -- $(cat /oomkit-run/test-args)
unset IFS
node --test --test-reporter=spec --test-concurrency=1 "$@" > $out 2>&1 < /dev/null
finish $?
