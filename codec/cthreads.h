// Codec threads (cthreads.c): a fixed set of POSIX threads that run the
// long codec calls outside the Go scheduler, and the calls they run.
#ifndef OHI_CTHREADS_H
#define OHI_CTHREADS_H

#include <stddef.h>
#include <stdint.h>

#include "lowres.h"
#include "ojph_shim.h"
#include "opj_shim.h"

// ohi_call_fn runs one call; its argument is one of the ohi_*_call structs.
typedef void (*ohi_call_fn)(void *call);

// ohi_job is one submitted call, and the calls chained to it with then,
// which run after it on the same thread. The submitter owns the jobs (and
// everything they point to) until the codec thread has written the byte to
// the first job's done_fd, after the last call.
typedef struct ohi_job {
	ohi_call_fn fn;
	void *call;
	struct ohi_job *then;
	int done_fd;
	struct ohi_job *next; // the queue's link
} ohi_job;

// ohi_cthreads_start starts n codec threads. It is called once; it returns
// 0 or an errno value (and then no call may be submitted).
int ohi_cthreads_start(int n);

// ohi_cthreads_submit queues job for the codec threads.
void ohi_cthreads_submit(ohi_job *job);

// ohi_run runs job and the jobs chained to it on the calling thread.
void ohi_run(ohi_job *job);

// The calls: the arguments of the function of the same name and its result
// in status.
typedef struct {
	const uint8_t *px;
	uint32_t w, h, comps, bps, precision;
	int is_signed;
	uint32_t decompositions;
	uint8_t *out;
	size_t out_len;
	char *err;
	size_t errlen;
	int status;
} ohi_ht_encode_call;
void ohi_ht_encode_run(void *call);

typedef struct {
	const uint8_t *cs;
	size_t len;
	uint32_t skip, w, h, comps, bps;
	uint8_t *out;
	size_t out_len;
	char *err;
	size_t errlen;
	int status;
} ohi_ht_decode_call;
void ohi_ht_decode_run(void *call);

typedef struct {
	const uint8_t *cs;
	size_t len;
	uint32_t w, h, comps, bps;
	const uint8_t *want;
	size_t want_len;
	char *err;
	size_t errlen;
	int status;
} ohi_ht_verify_call;
void ohi_ht_verify_run(void *call);

typedef struct {
	const uint8_t *px;
	uint32_t w, h, comps, bps;
	int is_signed;
	uint32_t d;
	int32_t lo, hi;
	uint8_t *out;
	size_t out_len;
	int32_t *scratch;
	size_t scratch_len;
	int status;
} ohi_lowres_call;
void ohi_lowres_run(void *call);

typedef struct {
	const uint8_t *px;
	uint32_t w, h, comps, bps, precision;
	int is_signed;
	uint32_t decompositions;
	size_t max_out;
	uint8_t *out;
	size_t out_len;
	char *err;
	size_t errlen;
	int status;
} ohi_j2k_encode_call;
void ohi_j2k_encode_run(void *call);

typedef struct {
	const uint8_t *cs;
	size_t len;
	uint32_t reduce, w, h, comps, bps;
	uint8_t *out;
	size_t out_len;
	char *err;
	size_t errlen;
	int status;
} ohi_j2k_decode_call;
void ohi_j2k_decode_run(void *call);

#endif
