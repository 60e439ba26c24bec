# Sourced by both second stages, guest.sh (busybox as PID 1) and guest-systemd.sh (under
# systemd): the tests' environment, and run_tests, which runs `node --test` on the arguments in
# /oomkit-run/test-args (one a line, never globbed) with its output on the second serial port,
# then calls the caller's `finish` with its exit code (125 when the checkout is missing).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 NO_COLOR=1 FORCE_COLOR=0 OOMKIT_IN_VM=1

out=/dev/ttyS1

run_tests() {
	cd "$OOMKIT_REPO" || finish 125
	set -f
	IFS='
'
	# shellcheck disable=SC2046 # one argument a line, no globbing
	set -- $(cat /oomkit-run/test-args)
	unset IFS
	# Once every test has ended, the runner exits even if a test's process left something open
	# (a child it did not reap): the peers run of 2026-11-30 ended its tests and then waited for
	# the guest's timeout, 30 minutes with the CPU idle. The files' after() hooks still run
	# first, and the peers file says what its process still held. Node 20.14 and later.
	force=
	node --test-force-exit -e 0 2>/dev/null && force=--test-force-exit
	node --test $force --test-reporter=spec --test-concurrency=1 "$@" > $out 2>&1 < /dev/null
	finish $?
}
