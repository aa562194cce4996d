/*
 * stats.c - registry of named per-core counters (see dl_stats.h).
 *
 * Blocks form a singly linked list guarded by a mutex; only registration,
 * dumping and lookups take it, never the cores that increment counters.
 */
#include "dl_stats.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dl_counter_block *stats_head;

void dl_stats_register(struct dl_counter_block *blk, const char *module,
		       const char *const *names, unsigned n, uint64_t *values, int core)
{
	struct dl_counter_block **pp;

	blk->module = module;
	blk->names = names;
	blk->n = n;
	blk->values = values;
	blk->core = core;
	blk->next = NULL;
	pthread_mutex_lock(&stats_lock);
	/* Append so the dump keeps registration order (module by module). */
	for (pp = &stats_head; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = blk;
	pthread_mutex_unlock(&stats_lock);
}

void dl_stats_unregister(struct dl_counter_block *blk)
{
	struct dl_counter_block **pp;

	pthread_mutex_lock(&stats_lock);
	for (pp = &stats_head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == blk) {
			*pp = blk->next;
			break;
		}
	}
	pthread_mutex_unlock(&stats_lock);
}

/* Sum of counter i of module over all blocks; also reports if any exist. */
static uint64_t sum_counter(const char *module, const char *name, int *found)
{
	uint64_t total = 0;

	for (struct dl_counter_block *b = stats_head; b != NULL; b = b->next) {
		if (strcmp(b->module, module) != 0)
			continue;
		for (unsigned i = 0; i < b->n; i++) {
			if (b->names[i] != NULL && strcmp(b->names[i], name) == 0) {
				total += __atomic_load_n(&b->values[i], __ATOMIC_RELAXED);
				*found = 1;
			}
		}
	}
	return total;
}

uint64_t dl_stats_get(const char *module, const char *name)
{
	int found = 0;
	uint64_t v;

	pthread_mutex_lock(&stats_lock);
	v = sum_counter(module, name, &found);
	pthread_mutex_unlock(&stats_lock);
	return v;
}

/* True if an earlier block already printed this module (dump each once). */
static int module_seen_before(const struct dl_counter_block *blk)
{
	for (struct dl_counter_block *b = stats_head; b != blk; b = b->next)
		if (strcmp(b->module, blk->module) == 0)
			return 1;
	return 0;
}

void dl_stats_dump(FILE *f, bool all)
{
	pthread_mutex_lock(&stats_lock);
	fprintf(f, "--- dlibos counters%s ---\n", all ? "" : " (non-zero)");
	for (struct dl_counter_block *m = stats_head; m != NULL; m = m->next) {
		if (module_seen_before(m))
			continue;
		for (unsigned i = 0; i < m->n; i++) {
			int found = 0;
			uint64_t total;

			if (m->names[i] == NULL)
				continue;
			total = sum_counter(m->module, m->names[i], &found);
			if (total == 0 && !all)
				continue;
			fprintf(f, "%s.%s %llu", m->module, m->names[i], (unsigned long long)total);
			/* Per-core breakdown when the module has several cores. */
			int ncores = 0;
			for (struct dl_counter_block *b = m; b != NULL; b = b->next)
				ncores += strcmp(b->module, m->module) == 0 && b->core >= 0;
			if (ncores > 1) {
				fprintf(f, " [");
				for (struct dl_counter_block *b = m; b != NULL; b = b->next) {
					if (strcmp(b->module, m->module) != 0 || b->core < 0 ||
					    i >= b->n)
						continue;
					fprintf(f, " c%d=%llu", b->core,
						(unsigned long long)__atomic_load_n(
							&b->values[i], __ATOMIC_RELAXED));
				}
				fprintf(f, " ]");
			}
			fputc('\n', f);
		}
	}
	fprintf(f, "---\n");
	fflush(f);
	pthread_mutex_unlock(&stats_lock);
}

void dl_stats_visit(void (*fn)(void *arg, const struct dl_counter_block *b), void *arg)
{
	pthread_mutex_lock(&stats_lock);
	for (const struct dl_counter_block *b = stats_head; b != NULL; b = b->next)
		fn(arg, b);
	pthread_mutex_unlock(&stats_lock);
}
