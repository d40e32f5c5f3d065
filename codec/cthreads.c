// Codec threads: see cthreads.h.
#include "cthreads.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER;
static ohi_job *head, *tail;

static void *worker(void *unused) {
	(void)unused;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (head == NULL) {
			pthread_cond_wait(&nonempty, &mu);
		}
		ohi_job *job = head;
		head = job->next;
		if (head == NULL) {
			tail = NULL;
		}
		pthread_mutex_unlock(&mu);

		int fd = job->done_fd; // job belongs to the submitter once the byte is written
		ohi_run(job);
		const char b = 1;
		while (write(fd, &b, 1) < 0 && errno == EINTR) {
		}
	}
	return NULL;
}

int ohi_cthreads_start(int n) {
	pthread_attr_t attr;
	int rc = pthread_attr_init(&attr);
	if (rc != 0) {
		return rc;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 8u << 20);
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if ((rc = pthread_create(&t, &attr, worker, NULL)) != 0) {
			break;
		}
	}
	pthread_attr_destroy(&attr);
	return rc;
}

void ohi_cthreads_submit(ohi_job *job) {
	job->next = NULL;
	pthread_mutex_lock(&mu);
	if (tail != NULL) {
		tail->next = job;
	} else {
		head = job;
	}
	tail = job;
	pthread_cond_signal(&nonempty);
	pthread_mutex_unlock(&mu);
}

void ohi_run(ohi_job *job) {
	for (; job != NULL; job = job->then) {
		job->fn(job->call);
	}
}

void ohi_ht_encode_run(void *call) {
	ohi_ht_encode_call *c = call;
	c->status = ohi_ht_encode(c->px, c->w, c->h, c->comps, c->bps, c->precision, c->is_signed, c->decompositions,
	                          &c->out, &c->out_len, c->err, c->errlen);
}

void ohi_ht_decode_run(void *call) {
	ohi_ht_decode_call *c = call;
	c->status = ohi_ht_decode(c->cs, c->len, c->skip, c->w, c->h, c->comps, c->bps, c->out, c->out_len, c->err, c->errlen);
}

void ohi_ht_verify_run(void *call) {
	ohi_ht_verify_call *c = call;
	c->status = ohi_ht_verify(c->cs, c->len, c->w, c->h, c->comps, c->bps, c->want, c->want_len, c->err, c->errlen);
}

void ohi_lowres_run(void *call) {
	ohi_lowres_call *c = call;
	c->status = ohi_lowres(c->px, c->w, c->h, c->comps, c->bps, c->is_signed, c->d, c->lo, c->hi, c->out, c->out_len,
	                       c->scratch, c->scratch_len);
}

void ohi_j2k_encode_run(void *call) {
	ohi_j2k_encode_call *c = call;
	c->status = ohi_j2k_encode(c->px, c->w, c->h, c->comps, c->bps, c->precision, c->is_signed, c->decompositions,
	                           c->max_out, &c->out, &c->out_len, c->err, c->errlen);
}

void ohi_j2k_decode_run(void *call) {
	ohi_j2k_decode_call *c = call;
	c->status = ohi_j2k_decode(c->cs, c->len, c->reduce, c->w, c->h, c->comps, c->bps, c->out, c->out_len, c->err,
	                           c->errlen);
}
