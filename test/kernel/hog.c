/*
 * hog: a memory hog for the kernel tests (a Node process alone is ~40 MB, too big to stand in
 * for a 10 MB victim). Built by scripts/test-kernel.mjs with the machine's gcc.
 *
 *   hog [-c CGROUP_DIR] [-m MIB] [-r MIB_PER_S] [-f FILE] [-t | -w] [-n] [-s PID]...
 *
 *   -c DIR   write our pid to DIR/cgroup.procs before allocating: cgroup v2 never moves
 *            charges, so a hog must join its cgroup first
 *   -m MIB   anonymous memory to allocate and touch (default 0)
 *   -r RATE  MiB per second (default 0: as fast as possible)
 *   -f FILE  read FILE to the end first, filling the page cache (reclaimable memory)
 *   -t       ignore SIGTERM
 *   -w       exit slowly: each SIGTERM prints "hog term N" and starts a shutdown that ends (exit 0)
 *            only on SIGUSR1, so a test decides when the victim has finished exiting
 *   -n       no transparent huge pages (MADV_NOHUGEPAGE): 4 KiB pages, as in most heaps;
 *            Debian's kernels default to THP "always"
 *   -s PID   stop allocating as soon as PID is killed (a SIGKILL pending), a zombie or gone;
 *            up to 8 of them. A pusher that drives the machine into one OOM and no second
 *            one: the kill frees what it still wanted, whoever the kernel chose.
 *
 * Prints "hog ready pid=<pid> mib=<mib>" on stdout once everything is allocated (with -s, or
 * once it stopped: "hog ready pid=<pid> mib=<allocated> stopped"), then holds it until killed. Any failure prints "hog: <what>" on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024L * 1024L)

static void die(const char *what) {
	fprintf(stderr, "hog: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void join_cgroup(const char *dir) {
	char path[4096];
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) die(path);
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (write(fd, pid, (size_t)n) != n) die(path);
	close(fd);
}

static volatile sig_atomic_t terms, finish;

static void on_term(int sig) {
	(void)sig;
	terms++;
}

static void on_usr1(int sig) {
	(void)sig;
	finish = 1;
}

static void handle(int sig, void (*fn)(int)) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0) die("sigaction");
}

/* Says each SIGTERM once; returns when SIGUSR1 came (slow exit). */
static void report_signals(void) {
	static sig_atomic_t said;
	while (said < terms) {
		said++;
		printf("hog term %d\n", (int)said);
		fflush(stdout);
	}
	if (finish) {
		printf("hog done\n");
		fflush(stdout);
		exit(0);
	}
}

static void fill_page_cache(const char *file) {
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) die(file);
	static char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
	}
	if (n < 0) die(file);
	close(fd);
}

/* Whether a watched process was killed (SIGKILL pending for its thread group), is a zombie or gone. */
static int watched_dead(pid_t pid) {
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return 1;
	buf[n] = 0;
	const char *state = strstr(buf, "\nState:\t");
	if (state && (state[8] == 'Z' || state[8] == 'X')) return 1;
	const char *shd = strstr(buf, "\nShdPnd:\t");
	if (shd && (strtoull(shd + 9, NULL, 16) & (1ULL << (SIGKILL - 1)))) return 1;
	return 0;
}

int main(int argc, char **argv) {
	const char *cgroup = NULL, *file = NULL;
	long mib = 0;
	double rate = 0;
	int opt, no_thp = 0, slow_exit = 0, nwatch = 0, stopped = 0;
	pid_t watch[8];
	while ((opt = getopt(argc, argv, "c:m:r:f:twns:")) != -1) {
		switch (opt) {
		case 'c': cgroup = optarg; break;
		case 'm': mib = atol(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'f': file = optarg; break;
		case 't': signal(SIGTERM, SIG_IGN); break;
		case 'w': slow_exit = 1; break;
		case 'n': no_thp = 1; break;
		case 's':
			if (nwatch == 8) {
				fprintf(stderr, "hog: at most 8 -s\n");
				return 2;
			}
			watch[nwatch++] = (pid_t)atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: hog [-c CGROUP_DIR] [-m MIB] [-r MIB_PER_S] [-f FILE] [-t | -w] [-n] [-s PID]...\n");
			return 2;
		}
	}
	sigset_t both, open_mask;
	sigemptyset(&both);
	sigaddset(&both, SIGTERM);
	sigaddset(&both, SIGUSR1);
	if (slow_exit) {
		/* Held until the main loop waits for them with sigsuspend: none is missed. */
		if (sigprocmask(SIG_BLOCK, &both, &open_mask) != 0) die("sigprocmask");
		handle(SIGTERM, on_term);
		handle(SIGUSR1, on_usr1);
	}
	if (cgroup) join_cgroup(cgroup);
	if (file) fill_page_cache(file);

	if (mib > 0) {
		char *mem = mmap(NULL, (size_t)(mib * MIB), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) die("mmap");
		if (no_thp && madvise(mem, (size_t)(mib * MIB), MADV_NOHUGEPAGE) != 0) die("madvise");
		long page = sysconf(_SC_PAGESIZE);
		double start = now_s();
		for (long m = 0; m < mib; m++) {
			for (int w = 0; w < nwatch && !stopped; w++) stopped = watched_dead(watch[w]);
			if (stopped) {
				mib = m;
				break;
			}
			for (long off = 0; off < MIB; off += page) mem[m * MIB + off] = (char)(off / page + 1);
			if (rate > 0) {
				double due = start + (double)(m + 1) / rate;
				double wait = due - now_s();
				if (wait > 0) usleep((useconds_t)(wait * 1e6));
			}
		}
	}
	printf("hog ready pid=%d mib=%ld%s\n", (int)getpid(), mib, stopped ? " stopped" : "");
	fflush(stdout);
	for (;;) {
		if (slow_exit) {
			report_signals();
			sigsuspend(&open_mask);
		} else {
			pause();
		}
	}
}
