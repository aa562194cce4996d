/*
 * dl_config.h - the command-line arguments every DLibOS application shares.
 *
 * A DLibOS program is started like testpmd:
 *
 *     prog [EAL args] -- [application args]
 *
 * The platform (DPDK's EAL) consumes what comes before `--`; what follows
 * is parsed here: the common options (--ip, --gw, --mode, --net-cores,
 * --idle, --layout, --dispatch, --impair, --port-id, ...) plus the options
 * an application adds through struct dl_app_args (e.g. httpd's --root and
 * --port). Parsing is pure (no DPDK, no global state, no exit) so every
 * error path is unit-tested; dl_config_parse_or_exit() is the wrapper that
 * programs use: it prints what is wrong and the usage, and exits 2 (0 for
 * --help).
 *
 * Options are "--name value" or "--name=value". Nothing positional.
 */
#ifndef DL_CONFIG_H
#define DL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dl_engine.h"
#include "dl_impair.h"

/** What a core does when a loop iteration found no work. */
enum dl_idle_policy {
	DL_IDLE_AUTO = 0, /**< poll if every core has its own CPU to spare, else sleep */
	DL_IDLE_POLL,	  /**< spin */
	DL_IDLE_PAUSE,	  /**< spin with the CPU's pause instruction */
	DL_IDLE_SLEEP,	  /**< sleep with backoff after a run of empty iterations */
};

/** Keys of --tcp (bits of dl_tcp_opts.set). */
enum dl_tcp_opt_key {
	DL_TCPO_SYN_BACKLOG,
	DL_TCPO_ACCEPT_BACKLOG,
	DL_TCPO_MAX_CONNS,
	DL_TCPO_RCV_WND,
	DL_TCPO_DELACK_US,
	DL_TCPO_KEEPALIVE_S,
	DL_TCPO_RTO_MIN_MS,
	DL_TCPO_SYN_COOKIES,
	DL_TCPO_TIMESTAMPS,
	DL_TCPO_CC,
	DL_TCPO_SACK,
	DL_TCPO_TLP,
	DL_TCPO_HYSTART,
	DL_TCPO_RESTART_IDLE,
	DL_TCPO_SACK_POOL,
	DL_TCPO_TW_MAX,
	DL_TCPO_TW_REUSE,
	DL_TCPO_OOO_CORE_BUFS,
	DL_TCPO_APP_RX_BUFS,
	DL_TCPO_TLP_DELACK_MS,
	DL_TCPO_PACING,
	DL_TCPO_ECN,
	DL_TCPO_NKEYS
};

/** TCP tunables given with --tcp; each replaces the stack's default when its bit is set. */
struct dl_tcp_opts {
	uint32_t set; /**< bit (1 << enum dl_tcp_opt_key) per key given */
	uint32_t syn_backlog, accept_backlog, max_conns, rcv_wnd, delack_us, keepalive_s,
	    rto_min_ms;
	bool syn_cookies, timestamps;
	uint32_t cc; /**< enum dl_tcp_cc (cc=cubic|newreno|bbr) */
	bool sack, tlp, hystart, slow_start_after_idle, tw_reuse;
	uint32_t sack_pool, time_wait_max, ooo_core_bufs, app_rx_bufs, tlp_delack_ms;
	uint32_t pacing; /**< enum dl_tcp_pacing (pacing=off|bbr|all) */
	uint32_t ecn;	 /**< enum dl_tcp_ecn (ecn=off|accept|on) */
};

/** The parsed common arguments. */
struct dl_config {
	uint32_t ip;	    /**< our IPv4 address, host byte order */
	uint8_t prefix_len; /**< netmask length (1..32) */
	uint32_t gw;	    /**< default gateway, host byte order, 0 = none */
	enum dl_mode mode;
	unsigned net_cores; /**< --net-cores (dlibos); 0 = not given */
	enum dl_idle_policy idle;
	enum dl_layout layout;
	enum dl_dispatch dispatch;
	bool impair_on; /**< --impair given */
	struct dl_impair_config impair;
	struct dl_tcp_opts tcp; /**< --tcp */
	uint16_t port_id;	/**< DPDK port */
	uint16_t rx_desc;	/**< RX descriptors per queue (0 = backend default) */
	uint16_t tx_desc;	/**< TX descriptors per queue (0 = backend default) */
	uint32_t rx_bufs;	/**< RX buffers per queue (0 = backend default) */
	bool no_hw_offload;	/**< compute checksums/TSO in software even if the port could */
	uint64_t
	    app_rx_credit;  /**< bytes an app core may hold (--app-rx-credit; 0 = engine default) */
	size_t tx_copy;	    /**< dlibos_send_copy memory per app core (--tx-copy-kb; 0 = engine
				 default) */
	bool stats_all;	    /**< print zero counters too */
	int log_level;	    /**< dl_log_level; -1 = not given */
	bool help;	    /**< --help was given */
	const char *attach; /**< --attach PATH: protected mode, attach to the service there */
	unsigned app_cores; /**< --app-cores (with --attach; 0 = not given: 1) */
	const char *capture;	   /**< --capture FILE: pcapng of every frame (NULL: none) */
	uint32_t capture_snaplen;  /**< --snaplen (0: the capture's default) */
	uint64_t capture_frames;   /**< --capture-frames (0: no limit) */
	/** Set before parsing by the service (dlibosd): its rules apply
	 *  (every lcore a net core, no --mode, no --attach). */
	bool service;
	uint32_t given; /**< bit per common option given (internal) */
};

/** One application option. */
struct dl_app_opt {
	const char *name;     /**< long name without dashes, e.g. "root" */
	const char *arg_name; /**< NULL for a flag, else e.g. "DIR" (value required) */
	const char *help;     /**< one line */
	int key;	      /**< passed to the handler */
};

/**
 * An application's own options. The handler receives each given option
 * (value NULL for flags) and returns 0, or -1 after writing what is wrong
 * into err (errlen bytes).
 */
struct dl_app_args {
	const char *prog;	       /**< program name in the usage */
	const char *summary;	       /**< one line: what the program does */
	const struct dl_app_opt *opts; /**< may be NULL */
	unsigned n_opts;
	int (*handle)(void *arg, int key, const char *value, char *err, size_t errlen);
	void *arg;
	/**
	 * Optional: check the application's options once everything is
	 * parsed (e.g. a required --root). 0 or -1 with err written.
	 */
	int (*check)(void *arg, char *err, size_t errlen);
};

/** Result of dl_config_parse(). */
enum dl_parse_result {
	DL_PARSE_OK = 0,
	DL_PARSE_HELP = 1,   /**< --help: print the usage and exit 0 */
	DL_PARSE_ERROR = -1, /**< err says what is wrong */
};

/**
 * Strict unsigned decimal in [min, max]: digits only (no sign, blank or
 * suffix), no overflow. @return 0 with *out set, or -1.
 */
int dl_parse_uint(const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out);

/** Defaults for every field (no address). */
void dl_config_defaults(struct dl_config *cfg);

/**
 * Parse application arguments (what follows `--`; argv[0] is not an
 * option and is skipped). app may be NULL. Pure: no output, no exit.
 */
enum dl_parse_result dl_config_parse(struct dl_config *cfg, int argc, char *const argv[],
				     const struct dl_app_args *app, char *err, size_t errlen);

/**
 * Parse an --impair specification "loss=F,reorder=F,dup=F,corrupt=F,
 * delay_us=N,seed=N" (any subset, any order). 0 or -1 with err written.
 */
int dl_impair_parse(struct dl_impair_config *ic, const char *spec, char *err, size_t errlen);

/**
 * Parse a --tcp specification "syn_backlog=N,accept_backlog=N,max_conns=N,
 * rcv_wnd=BYTES,delack_us=N,keepalive_s=N,rto_min_ms=N,syn_cookies=0|1,
 * timestamps=0|1" (any subset, any order; a key given twice: the last).
 * Adds to what @p o already holds. 0 or -1 with err written (the key, the
 * value and the range).
 */
int dl_tcp_opts_parse(struct dl_tcp_opts *o, const char *spec, char *err, size_t errlen);

/** Print the usage (common and application options) to f. */
void dl_config_usage(FILE *f, const struct dl_app_args *app);

/**
 * dl_config_parse(), then on error print "prog: error: ..." and the usage
 * to stderr and exit(2); on --help print the usage to stdout and exit(0).
 */
void dl_config_parse_or_exit(struct dl_config *cfg, int argc, char *const argv[],
			     const struct dl_app_args *app);

/** Name of an idle policy, for printing. */
const char *dl_idle_name(enum dl_idle_policy p);

#endif
