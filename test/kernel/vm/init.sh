#!/bin/busybox sh
# /init of the test bed's initramfs. Loads the 9p and overlay modules, builds the root from the
# host's / (9p, read-only) under an overlay with a tmpfs upper layer, mounts proc, sys, dev and a
# pure cgroup v2 hierarchy with every controller enabled, mounts the run folder (9p, read-write)
# at /oomkit-run and hands over to /oomkit-run/job.sh. Any failure powers the guest off: the
# harness sees no exit code and reports it with the console log.
#
# With `oomkit.systemd` on the kernel command line the root is instead the cached Debian root
# (9p tag sysroot, test/kernel/vm/prepare.mjs) under the same overlay, the host's / is mounted at
# /oomkit-host, the paths listed in /oomkit-run/binds ("SOURCE TARGET", host paths) are bound
# into it (node, the checkout), the units in /oomkit-run/mask are masked, and
# /oomkit-run/oomkit-test.service is enabled, and systemd becomes
# PID 1: it mounts proc, sys, dev and the cgroup2 hierarchy itself, and the unit runs the tests.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "oomkit-vm: init: $*"
	poweroff -f
	sleep 10
}

mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys

while read -r ko; do
	[ -n "$ko" ] || continue
	insmod "/lib/modules/$ko" || fail "insmod $ko failed"
done < /modules.order

systemd=
grep -qw oomkit.systemd /proc/cmdline && systemd=1
lower_tag=hostroot
[ -n "$systemd" ] && lower_tag=sysroot
mkdir -p /lower /upper
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 $lower_tag /lower \
	|| fail "cannot mount the $lower_tag root over 9p"
mount -t tmpfs -o mode=0755 upper /upper
mkdir -p /upper/up /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/up,workdir=/upper/work overlay /newroot \
	|| fail "cannot mount the overlay root"

mkdir -p /newroot/oomkit-run
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 oomkitrun /newroot/oomkit-run \
	|| fail "cannot mount the run folder"
if [ -n "$systemd" ]; then
	mkdir -p /newroot/oomkit-host
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /newroot/oomkit-host \
		|| fail "cannot mount the host root over 9p"
	while read -r src dst; do
		[ -n "$src" ] || continue
		if [ -d "/newroot/oomkit-host$src" ]; then
			mkdir -p "/newroot$dst"
		else
			mkdir -p "/newroot${dst%/*}" && touch "/newroot$dst"
		fi
		mount --bind "/newroot/oomkit-host$src" "/newroot$dst" || fail "cannot bind $src at $dst"
	done < /newroot/oomkit-run/binds
	while read -r unit; do
		[ -n "$unit" ] && ln -sf /dev/null "/newroot/etc/systemd/system/$unit"
	done < /newroot/oomkit-run/mask
	cp /newroot/oomkit-run/oomkit-test.service /newroot/etc/systemd/system/ || fail "no oomkit-test.service"
	ln -sf ../oomkit-test.service /newroot/etc/systemd/system/multi-user.target.wants/oomkit-test.service
	umount /proc /sys
	exec switch_root /newroot /lib/systemd/systemd
fi

mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs dev /newroot/dev
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "cannot mount cgroup2"
echo "+cpuset +cpu +io +memory +pids" > /newroot/sys/fs/cgroup/cgroup.subtree_control \
	|| fail "cannot enable the cgroup controllers"
mount -t tmpfs -o mode=0755 run /newroot/run
mkdir -p /newroot/dev/shm /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
# /tmp stays the overlay's (the host's /tmp below, writes in the tmpfs upper layer): a checkout
# under the host's /tmp (a CI clone, say) must stay visible to the guest.

umount /proc /sys
exec switch_root /newroot /bin/busybox sh /oomkit-run/job.sh
