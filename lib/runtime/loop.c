/*
 * loop.c - the one per-core loop (see dl_runtime.h), run by every core of
 * the runtime (through dl_platform_launch(), core 0 on the main thread)
 * and by every application core of an attached process (through
 * dl_platform_thread_start()), and the idle policy it applies.
 *
 * A core starts its engine core on its own thread (its stack, NoC endpoint
 * and application context are first-touched on its NUMA node), counts
 * itself started or failed in its set, then iterates until the runtime is
 * asked to stop: one dl_engine_core_iter(), the idle policy when it found
 * nothing to do, and the set's chores on the core that does them.
 */
#include "dl_runtime.h"
#include "dl_log.h"

#include <string.h>
#include <sys/prctl.h>
#include <time.h>

/* ---- idle policy --------------------------------------------------------- */

enum dl_idle_policy dl_idle_resolve(enum dl_idle_policy requested, bool cores_exclusive)
{
	if (requested != DL_IDLE_AUTO)
		return requested;
	return cores_exclusive ? DL_IDLE_POLL : DL_IDLE_SLEEP;
}

void dl_idle_init(struct dl_idle *s, enum dl_idle_policy policy)
{
	s->policy = policy == DL_IDLE_AUTO ? DL_IDLE_SLEEP : policy;
	s->empty = 0;
	s->sleep_us = DL_IDLE_SLEEP_MIN_US;
}

int dl_idle_next(struct dl_idle *s, unsigned work)
{
	uint32_t us;

	if (work > 0) {
		s->empty = 0;
		s->sleep_us = DL_IDLE_SLEEP_MIN_US;
		return 0;
	}
	switch (s->policy) {
	case DL_IDLE_PAUSE:
		return -1;
	case DL_IDLE_SLEEP:
		if (s->empty < DL_IDLE_SPIN_ITERS) {
			s->empty++;
			return -1;
		}
		us = s->sleep_us;
		s->sleep_us = us * 2 > DL_IDLE_SLEEP_MAX_US ? DL_IDLE_SLEEP_MAX_US : us * 2;
		return (int)us;
	default:
		return 0;
	}
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

bool dl_idle_wait(struct dl_idle *s, unsigned work)
{
	int r = dl_idle_next(s, work);

	if (r < 0)
		cpu_relax();
	if (r <= 0)
		return false;
	struct timespec ts = {0, (long)r * 1000};
	nanosleep(&ts, NULL);
	return true;
}

/* ---- the per-core loop --------------------------------------------------- */

static const char *const core_cnt_names[CORE_NCNT] = {
    [CORE_BUSY_ITERS] = "busy_iterations",
    [CORE_IDLE_SLEEPS] = "idle_sleeps",
    [CORE_ITERS] = "iterations",
    [CORE_BUSY_US] = "busy_us",
};

void dl_core_init(struct dl_core *c, struct dl_core_set *set, unsigned index,
		  const struct dl_core_info *info, int stats_index)
{
	memset(c, 0, sizeof(*c));
	c->index = index;
	c->info = *info;
	c->set = set;
	dl_stats_register(&c->blk, "core", core_cnt_names, CORE_NCNT, c->cnt, stats_index);
}

void dl_core_fini(struct dl_core *c)
{
	if (c->blk.module != NULL)
		dl_stats_unregister(&c->blk);
}

/* The engine creates the core's stack, NoC endpoint and application
 * context here, on the core's own thread, so their memory is first-touched
 * on the core's NUMA node. */
static int core_start(struct dl_core *c)
{
	int rc;

	dl_idle_init(&c->idle, c->set->idle);
	if (c->idle.policy == DL_IDLE_SLEEP)
		prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* 1 us: short sleeps stay short */
	c->now = dl_now_us();
	rc = dl_engine_core_start(c->set->engine, c->index, c->now);
	if (rc != 0)
		DL_ERR("core %u: start-up failed: %s", c->index, strerror(rc < 0 ? -rc : rc));
	return rc;
}

int dl_core_run(void *arg)
{
	struct dl_core *c = arg;
	struct dl_core_set *set = c->set;
	const bool chores = set->chores != NULL && c->index == set->chores_core;

	c->start_rc = core_start(c);
	if (c->start_rc != 0) {
		__atomic_fetch_add(&set->failed, 1, __ATOMIC_RELEASE);
		dl_runtime_stop();
		return c->start_rc;
	}
	__atomic_fetch_add(&set->started, 1, __ATOMIC_RELEASE);
	unsigned work = 0;
	while (!dl_runtime_stopping()) {
		uint64_t prev = c->now;

		c->now = dl_now_us();
		/* An iteration that did work is busy until the next one starts
		 * (it did not wait: the idle policy waits only after none). */
		if (work > 0)
			c->cnt[CORE_BUSY_US] += c->now - prev;
		work = dl_engine_core_iter(set->engine, c->index, c->now);
		c->cnt[CORE_ITERS]++;
		if (work > 0)
			c->cnt[CORE_BUSY_ITERS]++;
		if (dl_idle_wait(&c->idle, work))
			c->cnt[CORE_IDLE_SLEEPS]++;
		if (__builtin_expect(__atomic_load_n(&c->obs_req, __ATOMIC_ACQUIRE) != NULL, 0))
			dl_core_obs_serve(c);
		if (chores)
			set->chores(set->chores_arg);
	}
	return 0;
}
