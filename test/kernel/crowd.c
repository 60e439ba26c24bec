/*
 * crowd: thousands of waiting tasks in hundreds of cgroups, for the kernel tests' crowded
 * machine. A Node process per task would hold ~40 MB, and a hog per task costs a spawn each
 * (tens of ms under TCG); forking a tiny static binary costs a fraction of that. Built by
 * scripts/test-kernel.mjs with the machine's gcc, like the hog.
 *
 *   crowd -n TASKS_PER_CGROUP [-k KIB] [-c OWN_CGROUP] DIR...
 *
 *   -n N     tasks per cgroup (at least 1)
 *   -k KIB   memory each task touches for itself before it waits (default 0)
 *   -c DIR   the cgroup the crowd's own process joins first
 *
 * For each DIR (a cgroup folder), one task joins it and forks N - 1 more there; every task
 * touches its KIB, then waits (pause) until it is killed. Prints "crowd ready pid=<pid>
 * tasks=<n>" on stdout once every task is in place, then waits itself. Any failure prints
 * "crowd: <what>" on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "crowd: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void join_cgroup(const char *dir) {
	char path[4096];
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) die(path);
	/* "0" moves the writer itself. */
	if (write(fd, "0\n", 2) != 2) die(path);
	close(fd);
}

/* Touches `kib` of memory of its own, says it is in place, and waits until killed. */
static void wait_here(long kib, int ready) {
	if (kib > 0) {
		char *mem = mmap(NULL, (size_t)kib * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) die("mmap");
		for (long off = 0; off < kib * 1024; off += 4096) mem[off] = 1;
	}
	if (write(ready, "x", 1) != 1) die("ready pipe");
	close(ready);
	for (;;) pause();
}

int main(int argc, char **argv) {
	long per = 0, kib = 0;
	const char *own = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "n:k:c:")) != -1) {
		switch (opt) {
		case 'n': per = atol(optarg); break;
		case 'k': kib = atol(optarg); break;
		case 'c': own = optarg; break;
		default:
			fprintf(stderr, "usage: crowd -n TASKS_PER_CGROUP [-k KIB] [-c OWN_CGROUP] DIR...\n");
			return 2;
		}
	}
	if (per < 1 || optind >= argc) {
		fprintf(stderr, "usage: crowd -n TASKS_PER_CGROUP [-k KIB] [-c OWN_CGROUP] DIR...\n");
		return 2;
	}
	if (own) join_cgroup(own);
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) die("pipe");
	long total = 0;
	for (int i = optind; i < argc; i++) {
		pid_t leader = fork();
		if (leader < 0) die("fork");
		if (leader == 0) {
			close(fds[0]);
			join_cgroup(argv[i]);
			for (long t = 1; t < per; t++) {
				pid_t p = fork();
				if (p < 0) die("fork");
				if (p == 0) wait_here(kib, fds[1]);
			}
			wait_here(kib, fds[1]);
		}
		total += per;
	}
	close(fds[1]);
	char buf[4096];
	for (long got = 0; got < total;) {
		ssize_t n = read(fds[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) {
			errno = EPIPE;
			die("a task failed before it was in place");
		}
		got += n;
	}
	close(fds[0]);
	printf("crowd ready pid=%d tasks=%ld\n", (int)getpid(), total);
	fflush(stdout);
	for (;;) pause();
}
